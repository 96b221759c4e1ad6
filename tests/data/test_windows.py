"""Streams and truncated-BPTT windows: exact tiling, targets, TBPTT(k1, k2), AWD lengths, resets."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.windows import (
    awd_windows,
    batchify,
    bptt_windows,
    document_starts,
    tbptt_windows,
)

B, N = 3, 23  # streams (3, 23): T = 22 positions with a target


def make_streams() -> np.ndarray:
    return batchify(np.arange(B * N + 2, dtype=np.int64), B)  # 2 tokens of remainder dropped


def test_batchify_layout_and_errors() -> None:
    ids = np.arange(11)
    streams = batchify(ids, 3)
    assert streams.shape == (3, 3)
    np.testing.assert_array_equal(streams, [[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    with pytest.raises(ValueError, match="11 tokens in 6 streams give 1 tokens per stream.*most 5"):
        batchify(ids, 6)
    with pytest.raises(ValueError, match="expected a 1-D token stream"):
        batchify(ids.reshape(1, -1), 1)


def word_language_model_batches(streams: np.ndarray, bptt: int):
    """PyTorch's examples/word_language_model get_batch, on our (B, n) layout."""
    for i in range(0, streams.shape[1] - 1, bptt):
        seq_len = min(bptt, streams.shape[1] - 1 - i)
        yield i, streams[:, i : i + seq_len], streams[:, i + 1 : i + 1 + seq_len]


@pytest.mark.parametrize("bptt", [1, 5, 7, 22, 30])
def test_bptt_windows_tile_once_with_shifted_targets(bptt: int) -> None:
    streams = make_streams()
    wins = list(bptt_windows(streams, bptt=bptt))
    ref = list(word_language_model_batches(streams, bptt))
    assert len(wins) == len(ref)
    for w, (i, x, y) in zip(wins, ref):
        assert w.start == i and w.loss_start == 0 and w.carry_steps == w.length
        np.testing.assert_array_equal(w.x, x)
        np.testing.assert_array_equal(w.y, y)
        np.testing.assert_array_equal(w.y[:, :-1], w.x[:, 1:])
    covered = np.concatenate([np.arange(w.start, w.end) for w in wins])
    np.testing.assert_array_equal(covered, np.arange(N - 1))
    assert all(w.length == bptt for w in wins[:-1])


def test_windows_are_read_only_views() -> None:
    w = next(bptt_windows(make_streams(), bptt=4))
    with pytest.raises(ValueError, match="read-only"):
        w.x[0, 0] = 1


def test_resume_from_end_continues_the_sequence() -> None:
    streams = make_streams()
    full = list(bptt_windows(streams, bptt=5))
    resumed = list(bptt_windows(streams, bptt=5, start=full[1].end))
    assert [w.start for w in resumed] == [w.start for w in full[2:]]
    with pytest.raises(ValueError, match=r"start must be an int in \[0, 22\]"):
        bptt_windows(streams, bptt=5, start=23)


def loss_positions(w) -> np.ndarray:
    return np.arange(w.start + w.loss_start, w.end)


@pytest.mark.parametrize("k1, k2", [(1, 1), (3, 3), (2, 5), (3, 7), (4, 10), (5, 30)])
@pytest.mark.parametrize("start", [0, 4])
def test_tbptt_windows_cover_every_target_once(k1: int, k2: int, start: int) -> None:
    streams = make_streams()
    wins = list(tbptt_windows(streams, k1=k1, k2=k2, start=start))
    counted = np.concatenate([loss_positions(w) for w in wins])
    np.testing.assert_array_equal(counted, np.arange(start, N - 1))  # once each, in order
    for prev, nxt in zip(wins, wins[1:]):
        assert nxt.start == max(0, prev.end + k1 - k2)
        assert prev.start + prev.carry_steps == nxt.start  # carried state is at nxt's start
        assert loss_positions(nxt)[0] == prev.end
    for w in wins:
        assert w.length <= k2 and w.length - w.loss_start <= k1
        np.testing.assert_array_equal(w.x, streams[:, w.start : w.end])
        np.testing.assert_array_equal(w.y, streams[:, w.start + 1 : w.end + 1])
    # away from the clipped start, each window backpropagates exactly k2 steps
    full = [w for w in wins if w.start > 0 and w.end - w.start == k2]
    assert all(w.loss_start == k2 - k1 for w in full)


@pytest.mark.parametrize("bptt", [1, 4, 9])
def test_tbptt_with_k1_equal_k2_is_plain_windows(bptt: int) -> None:
    streams = make_streams()
    for start in (0, 3):
        plain = list(bptt_windows(streams, bptt=bptt, start=start))
        general = list(tbptt_windows(streams, k1=bptt, k2=bptt, start=start))
        assert len(plain) == len(general)
        for a, b in zip(plain, general):
            assert (a.start, a.loss_start, a.carry_steps) == (b.start, b.loss_start, b.carry_steps)
            np.testing.assert_array_equal(a.x, b.x)
            np.testing.assert_array_equal(a.y, b.y)
    with pytest.raises(ValueError, match="need ints 1 <= k1 <= k2, got k1=4, k2=2"):
        tbptt_windows(streams, k1=4, k2=2)


def awd_reference_lengths(rng: np.random.Generator, bptt: int, total: int) -> list[int]:
    """AWD-LSTM main.py's length draws, with its np.random calls on a Generator."""
    lengths, i = [], 0
    while i < total:
        base = bptt if rng.random() < 0.95 else bptt / 2.0
        seq_len = max(5, int(rng.normal(base, 5)))
        seq_len = min(seq_len, bptt + 40)
        lengths.append(min(seq_len, total - i))
        i += seq_len
    return lengths


def test_awd_windows_reproducible_and_match_the_reference() -> None:
    streams = batchify(np.arange(2 * 2000), 2)
    bptt = 70
    wins = list(awd_windows(streams, bptt=bptt, rng=np.random.default_rng(7)))
    again = list(awd_windows(streams, bptt=bptt, rng=np.random.default_rng(7)))
    other = list(awd_windows(streams, bptt=bptt, rng=np.random.default_rng(8)))
    lengths = [w.length for w in wins]
    assert lengths == [w.length for w in again]
    assert lengths != [w.length for w in other]
    assert lengths == awd_reference_lengths(np.random.default_rng(7), bptt, 1999)
    assert min(lengths[:-1]) >= 5 and max(lengths) <= bptt + 40
    assert any(w.length < bptt * 0.75 for w in wins)  # some half-length draws happened
    covered = np.concatenate([np.arange(w.start, w.end) for w in wins])
    np.testing.assert_array_equal(covered, np.arange(1999))
    for w in wins:
        np.testing.assert_array_equal(w.y[:, :-1], w.x[:, 1:])


def test_awd_windows_resume_with_saved_rng_state() -> None:
    streams = batchify(np.arange(2 * 500), 2)
    rng = np.random.default_rng(3)
    it = awd_windows(streams, bptt=20, rng=rng)
    first = [next(it) for _ in range(4)]
    saved = rng.bit_generator.state
    rest = list(it)
    rng2 = np.random.default_rng(0)
    rng2.bit_generator.state = saved
    resumed = list(awd_windows(streams, bptt=20, rng=rng2, start=first[-1].end))
    assert [(w.start, w.length) for w in resumed] == [(w.start, w.length) for w in rest]
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        awd_windows(streams, bptt=20, rng=np.random.RandomState(0))


def test_document_resets_follow_the_boundaries() -> None:
    lengths = [5, 9, 2, 14, 11, 8]  # 49 tokens -> streams (3, 16)
    starts = document_starts(lengths)
    assert starts.sum() == len(lengths) and starts[0]
    np.testing.assert_array_equal(np.flatnonzero(starts), np.cumsum([0] + lengths[:-1]))
    ids = np.arange(starts.size)
    streams, doc = batchify(ids, 3), batchify(starts, 3)
    boundary_ids = set(np.flatnonzero(starts).tolist())
    for make in (
        lambda: bptt_windows(streams, bptt=4, doc_starts=doc),
        lambda: tbptt_windows(streams, k1=3, k2=6, doc_starts=doc),
        lambda: awd_windows(streams, bptt=6, rng=np.random.default_rng(0), doc_starts=doc),
    ):
        for w in make():
            assert w.resets.shape == w.x.shape and w.resets.dtype == np.bool_
            # ids are positions in the original stream, so the truth is known per entry
            expected = np.vectorize(lambda i: i in boundary_ids)(w.x)
            np.testing.assert_array_equal(w.resets, expected)
    assert next(bptt_windows(streams, bptt=4)).resets is None
    with pytest.raises(ValueError, match="doc_starts must be a bool array of the streams' shape"):
        bptt_windows(streams, bptt=4, doc_starts=starts)
