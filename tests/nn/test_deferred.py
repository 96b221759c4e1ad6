"""Deferred products (``blas.deferred``, ``matmul(..., defer=True)``): handed to the extension's helper
thread, run while the caller goes on, all done when the context exits."""

import os
import threading
import time

import numpy as np
import pytest
from _support import rel_err

from rnnkit.nn import blas, packed


needs_two_cores = pytest.mark.skipif(not packed.ENABLED or (os.cpu_count() or 1) < 2,
                                     reason="deferred products need the packed extension and two cores")


def _operands(seed: int, M: int, K: int, N: int):
    """``a (M, K)`` a transpose, ``b (K, N)`` with strided columns, ``base (M, N)``: as the weight
    gradients pass them."""
    r = np.random.default_rng(seed)
    a = r.standard_normal((K, M)).astype(np.float32).T
    b = r.standard_normal((K, 2 * N)).astype(np.float32)[:, ::2]
    return a, b, r.standard_normal((M, N)).astype(np.float32)


# blocks of columns, of rows, fewer rows than blocks, one row, a large one, one too small to defer
SHAPES = [(400, 200, 800), (800, 200, 400), (3, 200000, 2), (1, 2000, 900), (650, 700, 2600), (3, 40, 2)]


@pytest.mark.parametrize("add", [False, True])
def test_deferred_products_equal_numpy(add):
    """Every shape (blocks of rows or of columns, fewer rows than blocks, one row), ``add`` or not,
    and a float64 product that cannot be deferred: all right once the context exits."""
    cases = [(*_operands(i, *shape), shape) for i, shape in enumerate(SHAPES)]
    outs = [base.copy() for _, _, base, _ in cases]
    a64, b64, base64 = (x.astype(np.float64) for x in _operands(9, 30, 20, 10))
    out64 = base64.copy()
    with blas.deferred():
        for (a, b, _, _), out in zip(cases, outs):
            blas.matmul(out, a, b, add=add, split=True, defer=True)
        blas.matmul(out64, a64, b64, add=add, split=True, defer=True)
    for (a, b, base, shape), out in zip(cases, outs):
        assert rel_err(out, (base if add else 0) + a.astype(np.float64) @ b) < 1e-5, shape
    assert rel_err(out64, (base64 if add else 0) + a64 @ b64) < 1e-12


@needs_two_cores
def test_the_helper_runs_deferred_products_while_the_caller_goes_on():
    a, b, _ = _operands(1, 400, 200, 800)
    outs = [np.empty((400, 800), np.float32) for _ in range(8)]
    before = packed.helper_chunks()
    with blas.deferred():
        for out in outs:
            blas.matmul(out, a, b, split=True, defer=True)
        time.sleep(0.05)  # the caller's own work: the helper wakes up and takes the queue
    assert packed.helper_chunks() - before >= 8, "the helper ran too few of the deferred chunks"
    want = a.astype(np.float64) @ b
    assert all(rel_err(out, want) < 1e-5 for out in outs)


@pytest.mark.skipif(not packed.ENABLED, reason="packed extension not built")
def test_a_deferred_call_returns_before_its_product_is_done():
    """Deferred, not split: a product of ~1G multiply-adds (tens of milliseconds) is still unwritten
    when the call returns; NaN sentinels show it."""
    a, b, _ = _operands(8, 650, 700, 2600)
    out = np.full((650, 2600), np.nan, np.float32)
    with blas.deferred():
        blas.matmul(out, a, b, split=True, defer=True)
        unwritten = np.isnan(out).any()
    assert unwritten, "the call waited for its product"
    assert rel_err(out, a.astype(np.float64) @ b) < 1e-5


@needs_two_cores
def test_an_exception_inside_still_joins_and_frees_the_helper():
    a, b, _ = _operands(2, 400, 200, 800)
    outs = [np.empty((400, 800), np.float32) for _ in range(4)]
    with pytest.raises(RuntimeError, match="inside"):
        with blas.deferred():
            for out in outs:
                blas.matmul(out, a, b, split=True, defer=True)
            raise RuntimeError("inside")
    want = a.astype(np.float64) @ b
    assert all(rel_err(out, want) < 1e-5 for out in outs)  # joined on the way out
    before = packed.helper_chunks()
    for _ in range(20):  # the helper is free again for split products
        blas.matmul(outs[0], a, b, split=True)
    assert packed.helper_chunks() > before, "the helper stayed held after the context"


def test_nested_contexts_join_once_at_the_outermost():
    a, b, base = _operands(3, 300, 40, 500)
    out, inner_out = base.copy(), base.copy()
    with blas.deferred():
        blas.matmul(out, a, b, add=True, split=True, defer=True)
        with blas.deferred():
            blas.matmul(inner_out, a, b, add=True, split=True, defer=True)
        assert blas.threads() == 1  # still inside the outer context
    want = base + a.astype(np.float64) @ b
    assert rel_err(out, want) < 1e-5 and rel_err(inner_out, want) < 1e-5


@pytest.mark.skipif(not packed.ENABLED, reason="packed extension not built")
def test_nothing_is_deferred_where_blas_may_use_one_thread():
    """As with ``OPENBLAS_NUM_THREADS=1`` (MPI ranks, Dask workers): no second thread of rnnkit's."""
    a, b, _ = _operands(4, 400, 200, 800)
    out = np.empty((400, 800), np.float32)
    with blas.single_threaded():
        before = packed.helper_chunks()
        with blas.deferred():
            for _ in range(10):
                blas.matmul(out, a, b, split=True, defer=True)
            time.sleep(0.02)
        assert packed.helper_chunks() == before
    assert rel_err(out, a.astype(np.float64) @ b) < 1e-5


def test_two_threads_deferring_at_once():
    """The queue serves one thread at a time; the other runs its products itself. Both are right."""
    results: dict[int, bool] = {}

    def work(seed: int) -> None:
        a, b, base = _operands(seed, 400, 200, 800)
        outs = [base.copy() for _ in range(6)]
        with blas.deferred():
            for out in outs:
                blas.matmul(out, a, b, add=True, split=True, defer=True)
        want = base + a.astype(np.float64) @ b
        results[seed] = all(rel_err(out, want) < 1e-5 for out in outs)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (5, 6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == {5: True, 6: True}


@pytest.mark.skipif(not packed.ENABLED, reason="packed extension not built")
def test_while_one_thread_owns_the_queue_another_cannot_defer():
    """Thread A has deferred a product and not joined yet; thread B's deferral is refused (B then
    runs its product itself), not slipped into A's queue, which A's join would run and reset."""
    a, b, _ = _operands(10, 650, 700, 2600)
    owner_queued, other_tried = threading.Event(), threading.Event()
    got: dict[str, object] = {}

    def owner() -> None:
        out, keep = np.empty((650, 2600), np.float32), []
        with blas.single_threaded():
            got["owner deferred"] = packed.defer_product(out, a, b, False, keep)
            owner_queued.set()
            other_tried.wait(timeout=60)
            packed.join_deferred()
        got["owner"] = out

    def other() -> None:
        owner_queued.wait(timeout=60)
        out, keep = np.empty((400, 2600), np.float32), []
        got["other deferred"] = packed.defer_product(out, a[:400], b, False, keep)
        packed.join_deferred()  # joins nothing: this thread owns no queue
        other_tried.set()

    threads = [threading.Thread(target=owner), threading.Thread(target=other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert got["owner deferred"] is True and got["other deferred"] is False
    assert rel_err(got["owner"], a.astype(np.float64) @ b) < 1e-5


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_deferring_in_a_forked_child():
    """A child forked after the parent deferred products defers its own: the queue starts empty."""
    import multiprocessing

    a, b, base = _operands(7, 400, 200, 800)
    out = base.copy()
    with blas.deferred():
        blas.matmul(out, a, b, add=True, split=True, defer=True)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        got = pool.apply_async(_child_defers, (a, b, base)).get(timeout=60)
    want = base + a.astype(np.float64) @ b
    assert rel_err(out, want) < 1e-5 and rel_err(got, want) < 1e-5


def _child_defers(a, b, base):
    out = base.copy()
    with blas.deferred():
        blas.matmul(out, a, b, add=True, split=True, defer=True)
        time.sleep(0.01)
    return out


def test_single_threaded_contexts_of_two_threads_overlapping_in_any_order():
    """A enters, B enters, A leaves, B leaves: BLAS is at one thread until B leaves, then back where
    it was (restored per context, B would have put back A's one thread for good)."""
    start = blas.threads()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def first() -> None:
        with blas.single_threaded():
            a_in.set()
            b_in.wait(timeout=60)
        a_out.set()

    def second() -> None:
        a_in.wait(timeout=60)
        with blas.single_threaded():
            b_in.set()
            a_out.wait(timeout=60)
            seen["after A left"] = blas.threads()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert seen["after A left"] == 1 and blas.threads() == start


@pytest.mark.skipif(not packed.ENABLED, reason="packed extension not built")
def test_stacks_defer_only_where_their_steps_run_on_the_packed_kernel():
    """Steps on NumPy's BLAS (batch 40 at hidden 128) would run on one thread inside ``deferred()``:
    those stacks, and the wavefront's, do not defer; batch 20 does (where two BLAS threads are
    allowed). The gradients agree with a run that defers and splits nothing."""
    from rnnkit.nn import LSTM

    r = np.random.default_rng(11)
    lstm = LSTM(64, 128, num_layers=2, rng=r)
    for B, wavefront, defers in ((40, None, False), (20, None, blas.threads() >= 2), (20, True, False)):
        lstm.use_wavefront = wavefront
        x = r.standard_normal((B, 7, 64)).astype(np.float32)
        lstm.forward(x)
        assert lstm.backward_defers() is defers, (B, wavefront)
        lstm.zero_grad()
        dx, _ = lstm.backward(np.ones((B, 7, 128), np.float32))
        grads = {name: g.copy() for name, _, g in lstm.named_parameters()}
        lstm.use_wavefront = False  # layer by layer, and below on one BLAS thread: nothing deferred or split
        lstm.forward(x)
        lstm.zero_grad()
        with blas.single_threaded():  # nothing deferred, nothing split
            dx_ref, _ = lstm.backward(np.ones((B, 7, 128), np.float32))
        assert rel_err(dx, dx_ref) < 1e-5
        for name, _, g in lstm.named_parameters():
            assert rel_err(grads[name], g) < 1e-5, name


@pytest.mark.skipif(not packed.ENABLED, reason="packed extension not built")
def test_two_core_steps_above_batch_32_only_where_W_h_fits_the_caches_and_no_wavefront_could_run():
    from rnnkit.nn import GRU, LSTM, RNN
    from rnnkit.nn.cells import Cell

    two = blas.threads() >= 2
    lstm, gru = LSTM(4, 4).cell, GRU(4, 4).cell
    assert lstm.two_cores(64, 256, np.float32) is two  # W_h 1 MiB: shape (c)
    assert not lstm.two_cores(64, 320, np.float32)  # 1.6 MiB
    assert gru.two_cores(64, 290, np.float32) is two and not gru.two_cores(64, 300, np.float32)
    assert not lstm.two_cores(Cell.TWO_CORE_BATCH_CACHED + 1, 128, np.float32)
    assert not RNN(4, 4).cell.two_cores(64, 256, np.float32)  # a small step: 4M multiply-adds
    assert not lstm.two_cores(64, 256, np.float32, stack=True)  # a stack runs as a wavefront instead
    assert lstm.two_cores(20, 650, np.float32, stack=True) is two
    single = LSTM(16, 256, rng=np.random.default_rng(3))
    single.forward(np.ones((64, 3, 16), np.float32))
    assert single.units[0][0]._cache["split"] is two
    assert not single.backward_defers()  # nothing to run beside its weight gradients


@pytest.mark.parametrize("split, defer", [(False, False), (True, False), (True, True)])
def test_column_sums_as_bias_gradients(split, defer, monkeypatch):
    """``add_column_sums``: NumPy's sum, or ``ones @ a`` split or deferred, into a 1-d bias gradient
    (a single row whose stride NumPy leaves 0: BLAS needs a leading dimension of at least N)."""
    monkeypatch.setattr(blas, "SPLIT_MIN_WORK", 1)
    r = np.random.default_rng(12)
    a = r.standard_normal((700, 3 * 500)).astype(np.float32)[:, 1000:]  # a gate block: strided rows
    out = r.standard_normal(500).astype(np.float32)
    want = out.astype(np.float64) + a.astype(np.float64).sum(axis=0)
    with blas.deferred():
        blas.add_column_sums(out, a, split=split, defer=defer)
    assert rel_err(out, want) < 1e-5
