"""Truncated-BPTT batching: parallel streams and the windows a trainer reads from them.

Shape legend: ``B`` streams (the batch), ``n`` tokens per stream, ``T = n - 1`` positions that have
a target, ``L`` the length of one window.

``batchify`` cuts one token stream into ``B`` contiguous streams, ``(B, n)`` — stream ``b`` is
tokens ``[b*n, (b+1)*n)`` — the layout of Zaremba et al. (2014) and PyTorch's
word-language-model example (which stores it transposed). Position ``t`` of every stream is read
at the same step, so the recurrent state of row ``b`` carries over from one window to the next.

Every iterator yields :class:`Window` objects. Windows are read-only views into the streams.
To stop after a window and resume later, save ``w.end`` (and, for :func:`awd_windows`, the
generator's ``rng.bit_generator.state``) and the hidden state carried out of it, then pass
``start=w.end``. Three schedules:

* :func:`bptt_windows` — consecutive windows of ``bptt`` positions (the last may be shorter);
* :func:`awd_windows` — AWD-LSTM's random lengths (Merity et al. 2017);
* :func:`tbptt_windows` — TBPTT(k1, k2) of Williams & Peng (1990): update every ``k1`` steps,
  backpropagate ``k2 >= k1`` steps. ``bptt_windows`` is its ``k1 == k2`` case.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Window",
    "batchify",
    "document_starts",
    "bptt_windows",
    "awd_windows",
    "tbptt_windows",
]


@dataclass(frozen=True)
class Window:
    """One training step's slice of the streams.

    Attributes:
        x: ``(B, L)`` inputs, ``streams[:, start:start + L]``.
        y: ``(B, L)`` targets, the next tokens: ``streams[:, start + 1:start + L + 1]``.
        start: stream position of ``x[:, 0]``.
        loss_start: only targets ``y[:, loss_start:]`` count toward the loss (0 except for TBPTT
            windows with ``k2 > k1``, whose first positions are context already trained on).
        carry_steps: the hidden state to carry into the next window is the state after the first
            ``carry_steps`` steps of this one (``L`` for non-overlapping windows; 0 means carry
            the state this window started from).
        resets: ``(B, L)`` bool or None; ``True`` at ``[b, t]`` means reset stream ``b``'s
            recurrent state to zero before reading ``x[b, t]`` (a new document starts there).
    """

    x: np.ndarray
    y: np.ndarray
    start: int
    loss_start: int
    carry_steps: int
    resets: np.ndarray | None = None

    @property
    def length(self) -> int:
        """``L``, the number of steps; AWD-LSTM scales the lr by ``length / bptt``."""
        return self.x.shape[1]

    @property
    def end(self) -> int:
        """Position after the last input; pass ``start=end`` to resume after this window."""
        return self.start + self.length


def batchify(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """Cut a 1-D stream into contiguous rows: ``(N,) -> (batch_size, N // batch_size)``.

    The last ``N % batch_size`` tokens are dropped. Works for any 1-D array aligned with the
    tokens, e.g. a ``doc_starts`` bool array, so that both are cut the same way.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"batchify: expected a 1-D token stream, got shape {ids.shape}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batchify: batch_size must be an int >= 1, got {batch_size!r}")
    n = len(ids) // batch_size
    if n < 2:
        raise ValueError(
            f"batchify: {len(ids)} tokens in {batch_size} streams give {n} tokens per stream, "
            "but each needs at least 2 (an input and its target); use a batch_size of at most "
            f"{max(1, len(ids) // 2)} or more text"
        )
    return ids[: batch_size * n].reshape(batch_size, n).copy()  # (B, n)


def document_starts(lengths: Sequence[int]) -> np.ndarray:
    """``(sum(lengths),)`` bool, True at the first token of each document.

    For a stream made by concatenating documents of the given token counts; cut it with
    :func:`batchify` like the ids and pass it as ``doc_starts``.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.ndim != 1 or (lengths < 1).any():
        raise ValueError(f"document_starts: expected positive document lengths, got {lengths}")
    starts = np.zeros(int(lengths.sum()), dtype=bool)
    starts[np.cumsum(lengths) - lengths] = True
    return starts


def bptt_windows(
    streams: np.ndarray, *, bptt: int, start: int = 0, doc_starts: np.ndarray | None = None
) -> Iterator[Window]:
    """Consecutive windows of ``bptt`` steps, in order, tiling positions ``[start, T)`` once.

    Window ``k`` covers ``[start + k*bptt, min(start + (k+1)*bptt, T))``; ``loss_start`` is 0 and
    ``carry_steps`` is the window's length (carry the final state).
    """
    if not (isinstance(bptt, int) and bptt >= 1):
        raise ValueError(f"bptt_windows: bptt must be an int >= 1, got {bptt!r}")
    return tbptt_windows(streams, k1=bptt, k2=bptt, start=start, doc_starts=doc_starts)


def tbptt_windows(
    streams: np.ndarray,
    *,
    k1: int,
    k2: int,
    start: int = 0,
    doc_starts: np.ndarray | None = None,
) -> Iterator[Window]:
    """TBPTT(k1, k2): a parameter update every ``k1`` steps, each backpropagating ``k2`` steps.

    For ``tau = start + k1, start + 2*k1, ...`` the window covers positions
    ``[max(0, tau - k2), min(tau, T))``; the loss counts on ``[tau - k1, tau)`` only, so every
    target from ``start`` on is trained exactly once. The next window starts ``k1`` positions
    later, at ``max(0, tau + k1 - k2)``, so this window reports ``carry_steps`` = that start minus
    its own. The forward pass over a window is recomputed from the carried state with the current
    parameters (the usual overlapping-window form of the algorithm).

    ``start`` is the first position whose target has not been trained yet (``w.end`` of the last
    window trained); the first window may begin before it, at ``max(0, start + k1 - k2)``, from
    the state the previous window carried.
    """
    if not (isinstance(k1, int) and isinstance(k2, int) and 1 <= k1 <= k2):
        raise ValueError(f"tbptt_windows: need ints 1 <= k1 <= k2, got k1={k1!r}, k2={k2!r}")
    total = _check(streams, start, doc_starts)
    return _tbptt(streams, doc_starts, k1, k2, start, total)


def _tbptt(
    streams: np.ndarray, doc_starts: np.ndarray | None, k1: int, k2: int, start: int, total: int
) -> Iterator[Window]:
    tau = start + k1
    while tau - k1 < total:
        lo, hi = max(0, tau - k2), min(tau, total)
        carry = min(max(0, tau + k1 - k2) - lo, hi - lo)
        yield _window(streams, doc_starts, lo, hi, loss_start=tau - k1 - lo, carry_steps=carry)
        tau += k1


def awd_windows(
    streams: np.ndarray,
    *,
    bptt: int,
    rng: np.random.Generator,
    start: int = 0,
    doc_starts: np.ndarray | None = None,
    p_full: float = 0.95,
    std: float = 5.0,
    min_len: int = 5,
    max_extra: int = 40,
) -> Iterator[Window]:
    """AWD-LSTM's randomised window lengths (Merity et al. 2017, ``main.py``), in order.

    For each window: ``base = bptt`` with probability ``p_full`` else ``bptt / 2``;
    ``length = min(max(min_len, int(rng.normal(base, std))), bptt + max_extra)``, cut at the end
    of the streams. AWD-LSTM then multiplies the lr by ``w.length / bptt`` for that step, since
    the loss is a mean over positions. Draws come only from ``rng`` (one ``random()`` and one
    ``normal()`` per window, in AWD-LSTM's order), so the same seed gives the same windows.

    Two differences from AWD-LSTM's loop, both at the end of the streams: its loop
    (``while i < T - 1``) skips the last target, which is trained here; and it scales the lr by
    the drawn length even for the final cut window, while ``w.length`` is what was read.
    """
    if not (isinstance(bptt, int) and bptt >= 1):
        raise ValueError(f"awd_windows: bptt must be an int >= 1, got {bptt!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"awd_windows: rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    total = _check(streams, start, doc_starts)
    return _awd(streams, doc_starts, bptt, rng, start, total, p_full, std, min_len, max_extra)


def _awd(
    streams: np.ndarray,
    doc_starts: np.ndarray | None,
    bptt: int,
    rng: np.random.Generator,
    start: int,
    total: int,
    p_full: float,
    std: float,
    min_len: int,
    max_extra: int,
) -> Iterator[Window]:
    pos = start
    while pos < total:
        base = bptt if rng.random() < p_full else bptt / 2
        length = min(max(min_len, int(rng.normal(base, std))), bptt + max_extra)
        hi = min(pos + length, total)
        yield _window(streams, doc_starts, pos, hi, loss_start=0, carry_steps=hi - pos)
        pos = hi


def _check(streams: np.ndarray, start: int, doc_starts: np.ndarray | None) -> int:
    """Validate the iterator inputs; return ``T``, the number of positions with a target."""
    if not isinstance(streams, np.ndarray) or streams.ndim != 2 or streams.shape[1] < 2:
        shape = getattr(streams, "shape", type(streams).__name__)
        raise ValueError(
            f"expected streams of shape (batch, n) with n >= 2 (use batchify), got {shape}"
        )
    total = streams.shape[1] - 1
    if not (isinstance(start, (int, np.integer)) and 0 <= start <= total):
        raise ValueError(f"start must be an int in [0, {total}] for these streams, got {start!r}")
    if doc_starts is not None:
        if doc_starts.shape != streams.shape or doc_starts.dtype != np.bool_:
            raise ValueError(
                f"doc_starts must be a bool array of the streams' shape {streams.shape}, got "
                f"{doc_starts.dtype} {doc_starts.shape}; cut it with batchify(doc_starts, "
                "batch_size) like the ids"
            )
    return total


def _window(
    streams: np.ndarray,
    doc_starts: np.ndarray | None,
    lo: int,
    hi: int,
    *,
    loss_start: int,
    carry_steps: int,
) -> Window:
    assert 0 <= lo < hi < streams.shape[1] and 0 <= loss_start < hi - lo
    assert 0 <= carry_steps <= hi - lo
    x, y = _view(streams[:, lo:hi]), _view(streams[:, lo + 1 : hi + 1])  # (B, L) each
    resets = None if doc_starts is None else _view(doc_starts[:, lo:hi])  # (B, L)
    return Window(x, y, lo, loss_start, carry_steps, resets)


def _view(a: np.ndarray) -> np.ndarray:
    a = a.view()
    a.flags.writeable = False
    return a
