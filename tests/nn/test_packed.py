"""The packed-operand product kernel (``nn/_packed.c`` through ``nn/packed.py``) equals NumPy's product:
alone, on one core and on two (bit for bit the same), over tile and block edges, transposed and
strided operands, with an addend, from two threads at once and after a fork; and inside whole layers,
where a stack's wavefront runs its steps' products through it, where each layer's steps run on two
cores, and where a compiled span loop calls it: forward, backward and every gradient against the
NumPy path (with lengths, resets and a carried state) and against PyTorch. The larger products split
over two cores (``blas.matmul``) equal NumPy's too."""

import os
import platform
import threading

import numpy as np
import pytest
from _support import rel_err, run_torch, torch_twin

from rnnkit import grads_to_torch_state_dict
from rnnkit.nn import GRU, LSTM, RNN, packed, wavefront
from rnnkit.nn.cells import Cell
from rnnkit.nn import blas
from rnnkit.nn.packed import NUMPY, ONE_CORE, TWO_CORES, PackedMatrix, Product

X86 = platform.machine().lower() in ("x86_64", "amd64")


def test_kernel_is_built_and_used_on_x86():
    """CI's x86-64 machines build the extension at install; if this fails, the fast path is gone."""
    if not X86:
        pytest.skip("the packed kernel is x86-64 (AVX2, FMA) only; elsewhere NumPy runs the products")
    assert packed.ENABLED, "rnnkit.nn._packed was not built or not loaded: reinstall with a C compiler"


needs_kernel = pytest.mark.skipif(not packed.ENABLED, reason="packed kernel not available on this machine")
needs_two_cores = pytest.mark.skipif(not packed.ENABLED or (os.cpu_count() or 1) < 2,
                                     reason="two-core steps need the packed kernel and two cores")


# (M, K, N): micro-tiles are 4 rows x 24 columns and W is blocked by 1024 rows, so these cover one
# partial tile, exact tiles, a ragged last panel, one, two and three K-blocks; a single row has its own
# kernel (groups of four panels, then two, then one)
PANEL = 24
SHAPES = [(1, 1, 1), (3, 7, 5), (4, 24, 24), (5, 16, 16), (8, 48, 48), (20, 200, 800), (7, 1025, 33),
          (21, 2100, 37), (2, 1000, 70), (1, 50, 64), (1, 300, 70), (1, 400, 517), (1, 30, 7 * PANEL - 5),
          (1, 33, 128), (1, 20, 4 * PANEL + 5)]


@needs_kernel
@pytest.mark.parametrize("cores", [1, 2])
@pytest.mark.parametrize("M,K,N", SHAPES + [(130, 70, 300)])  # and A in three row blocks (MC_TILES)
def test_matmul_equals_numpy(M, K, N, cores):
    r = np.random.default_rng(M * 1000 + K)
    W = r.standard_normal((K, N)).astype(np.float32)
    a = r.standard_normal((M, K)).astype(np.float32)
    add = r.standard_normal((M, N)).astype(np.float32)
    expected = a.astype(np.float64) @ W.astype(np.float64)
    rows = np.full((M, N + PANEL), -7.0, np.float32)  # out's rows, then a panel's width that stays -7
    out = rows[:, :N]
    out[:] = np.nan
    P = PackedMatrix(W)
    assert rel_err(P.matmul(a, out, cores=cores), expected) < 1e-5
    assert rel_err(P.matmul(a, out, add, cores=cores), expected + add) < 1e-5
    np.copyto(out, add)
    assert rel_err(P.matmul(a, out, out, cores=cores), expected + add) < 1e-5  # the addend may be the output
    assert (rows[:, N:] == -7.0).all(), "a ragged last panel wrote past column N"


@needs_kernel
def test_two_core_products_share_the_work_and_stay_exact():
    """Many two-core products in a row (as a time loop runs them): each equals the one-core product
    bit for bit (every column is summed by one thread, in the same order), and the helper thread
    takes part (on a machine with two cores; the caller alone would also give the right answer)."""
    r = np.random.default_rng(8)
    P = PackedMatrix(r.standard_normal((650, 2600)).astype(np.float32))
    before = packed.helper_chunks()
    for M in (20, 1, 7) * 20:
        a = r.standard_normal((M, 650)).astype(np.float32)
        one, two = (P.matmul(a, np.empty((M, 2600), np.float32), cores=c) for c in (1, 2))
        assert np.array_equal(one, two)
    if os.cpu_count() >= 2:
        assert packed.helper_chunks() > before


@needs_kernel
def test_two_core_products_from_two_threads_at_once():
    """The helper serves one product at a time; a second thread's product runs on its caller alone."""
    r = np.random.default_rng(9)
    P = PackedMatrix(r.standard_normal((300, 800)).astype(np.float32))
    a = [r.standard_normal((20, 300)).astype(np.float32) for _ in range(2)]
    results: list = [[], []]

    def work(i):
        for _ in range(200):
            results[i].append(P.matmul(a[i], np.empty((20, 800), np.float32), cores=2))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(2):
        want = P.matmul(a[i], np.empty((20, 800), np.float32))
        assert all(np.array_equal(got, want) for got in results[i])


@needs_kernel
def test_transposed_and_strided_operands():
    """A transpose is packed from the untransposed array, and row-strided views (a gate block's
    columns) serve as ``a``, ``out`` and ``add``."""
    r = np.random.default_rng(5)
    W_h = r.standard_normal((30, 120)).astype(np.float32)
    dA = r.standard_normal((9, 120)).astype(np.float32)
    out = np.zeros((9, 50), np.float32)
    PackedMatrix(W_h.T).matmul(dA, out[:, 10:40])
    assert rel_err(out[:, 10:40], dA.astype(np.float64) @ W_h.T.astype(np.float64)) < 1e-5
    assert not out[:, :10].any() and not out[:, 40:].any()  # nothing written outside the view
    W_rz = W_h[:, :80]  # a column block of W_h: strided rows
    block = dA[:, :30]  # strided rows as the left operand
    got = PackedMatrix(W_rz).matmul(block, np.empty((9, 80), np.float32), add=dA[:, 40:120])
    assert rel_err(got, block.astype(np.float64) @ W_rz + dA[:, 40:120]) < 1e-5


@needs_kernel
@pytest.mark.parametrize("rows, cols", [(32, 261), (37, 300), (16, 8), (45, 130)])
def test_a_transpose_packs_as_its_contiguous_copy(rows, cols):
    """The transposed pack (blocks of 128 rows, 8 x 8 register transposes for full panels, the rest
    element by element) lays out exactly what packing a contiguous copy does."""
    V = np.random.default_rng(rows).standard_normal((rows, cols)).astype(np.float32)
    assert np.array_equal(PackedMatrix(V.T).data, PackedMatrix(np.ascontiguousarray(V.T)).data)


@needs_kernel
@pytest.mark.parametrize("K, N", [(650, 2600), (2600, 650), (33, 1000), (7, 17), (1, 1)])
def test_packing_on_two_cores_lays_out_the_same(K, N):
    """``TWO_CORES`` packs chunks of panels on the caller and the helper thread (plain and transposed,
    over a ragged last panel and fewer panels than chunks): the same layout as one core, byte for byte."""
    W = np.random.default_rng(K + N).standard_normal((K, N)).astype(np.float32)
    for V in (W, W.T):
        before = packed.helper_chunks()
        for _ in range(20):
            two = PackedMatrix(V, cores=TWO_CORES).data
            assert np.array_equal(two, PackedMatrix(V, cores=ONE_CORE).data)
        if os.cpu_count() >= 2 and V.shape[1] >= 2 * PANEL * 32:  # two panels or more per chunk
            assert packed.helper_chunks() > before, "the helper thread never packed a chunk"


@needs_kernel
@pytest.mark.parametrize("n", [packed.FLAT_MIN, packed.FLAT_MIN + 1, 3 * packed.FLAT_MIN + 1037])
def test_flat_passes_on_two_cores_equal_numpy(n):
    """``axpby`` (y = beta y + alpha x; y = beta y) and ``sum_squares`` over blocks on two cores, with
    tails of vectors, runs and blocks, against NumPy; arrays they do not take are left alone."""
    r = np.random.default_rng(n)
    x, y = r.standard_normal(n).astype(np.float32), r.standard_normal(n).astype(np.float32)
    for alpha, beta in ((-0.25, 1.0), (0.5, 0.75)):
        got = y.copy()
        assert packed.axpby(got, alpha, x, beta)
        want = beta * y.astype(np.float64) + alpha * x.astype(np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    got = y.copy()
    assert packed.axpby(got, 0.0, None, 0.3)
    np.testing.assert_allclose(got, 0.3 * y.astype(np.float64), rtol=1e-6)
    stale = np.full(n, np.nan, np.float32)  # beta 0 reads nothing of y: NaNs do not survive
    assert packed.axpby(stale, 2.0, x, 0.0)
    np.testing.assert_array_equal(stale, 2 * x)
    stale[::3] = np.nan
    assert packed.axpby(stale, 0.0, None, 0.0) and not stale.any()
    np.testing.assert_allclose(packed.sum_squares(x), np.sum(x.astype(np.float64) ** 2), rtol=1e-6)
    small, strided = y[: packed.FLAT_MIN - 1].copy(), np.repeat(y, 2)[::2]
    for z in (small, strided, y.astype(np.float64)):
        before = z.copy()
        assert not packed.axpby(z, 1.0, None, 2.0) and packed.sum_squares(z) is None
        np.testing.assert_array_equal(z, before)


@needs_kernel
def test_nan_propagates():
    W = np.ones((8, 20), np.float32)
    a = np.ones((6, 8), np.float32)
    a[4, 3] = np.nan
    out = PackedMatrix(W).matmul(a, np.empty((6, 20), np.float32))
    assert np.isnan(out[4]).all() and np.isfinite(np.delete(out, 4, axis=0)).all()


@needs_kernel
def test_bad_operands_are_refused():
    P = PackedMatrix(np.ones((4, 6), np.float32))
    with pytest.raises(ValueError, match=r"expected a as float32 \(2, 4\)"):
        P.matmul(np.ones((2, 5), np.float32), np.empty((2, 6), np.float32))
    with pytest.raises(ValueError, match="expected out as float32"):
        P.matmul(np.ones((2, 4), np.float32), np.empty((2, 6), np.float64))
    with pytest.raises(ValueError, match="contiguous rows"):
        P.matmul(np.ones((4, 2), np.float32).T, np.empty((2, 6), np.float32))
    with pytest.raises(TypeError, match="2-d float32"):
        PackedMatrix(np.ones((4, 6)))
    with pytest.raises(ValueError, match="non-empty"):
        PackedMatrix(np.ones((0, 6), np.float32))


def test_product_falls_back_to_numpy():
    """float64, or ``packed=False``, runs through NumPy: same values, nothing packed."""
    r = np.random.default_rng(2)
    W, a = r.standard_normal((7, 9)), r.standard_normal((3, 7))
    for product in (Product(W, packed=True), Product(W.astype(np.float32), packed=False)):
        assert product.packed is None
        out = np.empty((3, 9), product.W.dtype)
        assert rel_err(product(a.astype(product.W.dtype), out, add=out * 0 + 1), a @ W + 1) < 1e-5


# sizes where a step's product is too big for the compiled span loops (B*G*H^2 > Cell.LOOP_WORK),
# so that the per-step products run through the packed kernel on the wavefront's threads
KINDS = {
    "rnn": lambda I, H, **kw: RNN(I, H, **kw),
    "lstm": lambda I, H, **kw: LSTM(I, H, **kw),
    "gru": lambda I, H, **kw: GRU(I, H, **kw),
    "gru-before": lambda I, H, **kw: GRU(I, H, reset="before", **kw),
}


def run(layer, x, dy, lengths, resets, state):
    y, final = layer.forward(x, state, lengths=lengths, resets=resets)
    dx, dstate0 = layer.backward(dy)
    flat = lambda s: list(s) if isinstance(s, tuple) else [s]  # noqa: E731
    return [y, dx, *flat(final), *flat(dstate0), *(g.copy() for g in layer.gradients())]


def packed_products_ran(layer) -> bool:
    caches = [row[0]._cache["cell"] for row in layer.units]
    return all(p.packed is not None for c in caches for key, p in c.items() if key.startswith("times_"))


def take_path(path: str, monkeypatch) -> None:
    """Make stacks at batch 20 run their steps' products on the wavefront's threads, one core per layer,
    or layer by layer on two cores per step, with the larger products split too (``blas.matmul``)."""
    if path == "wavefront" and not wavefront.available():
        pytest.skip("no wavefront on this machine (one core, or RNNKIT_WAVEFRONT=0)")
    if path == "two cores":
        if (os.cpu_count() or 1) < 2:
            pytest.skip("two-core steps need two cores")
        monkeypatch.setattr(Cell, "TWO_CORE_WORK", 1)  # two cores at test sizes
        monkeypatch.setattr(blas, "SPLIT_MIN_WORK", 1)  # split even the smallest products


def on_path(layer, path: str, use_packed: bool = True) -> bool:
    """Whether ``layer``'s last forward call ran on ``path`` (the NumPy reference: layer by layer)."""
    modes = {row[0]._cache["packed"] for row in layer.units}
    if path == "wavefront":
        return layer._cache["wavefront"] and modes == {ONE_CORE if use_packed else NUMPY}
    return not layer._cache["wavefront"] and modes == {TWO_CORES if use_packed else NUMPY}


PATHS = ["wavefront", "two cores"]


@needs_kernel
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("extras", ["plain", "lengths+state", "resets"])
def test_stacks_with_packed_products_equal_numpy_path(kind, extras, path, monkeypatch):
    """Both paths of the packed kernel through a two-layer stack (compiled loops where plain; the
    Python loop with lengths or resets, and for the GRU of Cho et al.): everything equals NumPy's."""
    take_path(path, monkeypatch)
    B, T, I, H, L = 20, 9, 16, 128, 2
    r = np.random.default_rng(11)
    x = r.standard_normal((B, T, I)).astype(np.float32)
    dy = r.standard_normal((B, T, H)).astype(np.float32)
    lengths = r.integers(1, T + 1, B) if extras == "lengths+state" else None
    resets = r.random((B, T)) < 0.25 if extras == "resets" else None
    state = None
    if extras == "lengths+state":
        h0 = r.standard_normal((L, B, H)).astype(np.float32)
        state = (h0, h0 * 0.5) if kind == "lstm" else h0
    results = []
    for use_packed in (False, True):
        monkeypatch.setattr(packed, "ENABLED", use_packed)
        layer = KINDS[kind](I, H, num_layers=L, rng=np.random.default_rng(0))
        layer.use_wavefront = path == "wavefront"
        results.append(run(layer, x, dy, lengths, resets, state))
        assert on_path(layer, path, use_packed) and packed_products_ran(layer) is use_packed
    for plain, fast in zip(*results):
        assert rel_err(fast, plain) < 2e-5


@needs_kernel
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_packed_paths_match_torch_float32(kind, path, monkeypatch):
    take_path(path, monkeypatch)
    B, T, I, H, L = 20, 7, 12, 128, 2
    ours = KINDS[kind](I, H, num_layers=L, rng=np.random.default_rng(0))
    ours.use_wavefront = path == "wavefront"
    theirs = torch_twin(ours)
    r = np.random.default_rng(1)
    x, dy = r.standard_normal((B, T, I)).astype(np.float32), r.standard_normal((B, T, H)).astype(np.float32)
    h0 = r.standard_normal((L, B, H)).astype(np.float32)
    state, dstate = ([h0, -h0], [h0 * 0.5, h0 * 0.25]) if kind == "lstm" else ([h0], [h0 * 0.5])
    y_ref, final_ref, dx_ref, d0_ref, grads_ref = run_torch(theirs, x, state, None, dy, dstate)
    pack = tuple if kind == "lstm" else (lambda s: s[0])
    y, final = ours.forward(x, pack(state))
    dx, dstate0 = ours.backward(dy, pack(dstate))
    assert on_path(ours, path) and packed_products_ran(ours)
    assert rel_err(y, y_ref) < 1e-5
    assert rel_err(dx, dx_ref) < 1e-5
    as_list = list if kind == "lstm" else (lambda s: [s])
    for got, want in zip(as_list(final) + as_list(dstate0), final_ref + d0_ref):
        assert rel_err(got, want) < 1e-5
    for name, grad in grads_to_torch_state_dict(ours).items():
        assert rel_err(grad, grads_ref[name]) < 1e-5, name


# (batch, time, input, hidden): small steps run compiled span loops with or without the extension
# (their products then row by row in Numba); at batch 20, hidden 128 a step is too large for those, so
# without it the layer runs the Python loop with NumPy's products; so at batch 70, hidden 96, where with
# it the compiled loops call NumPy's BLAS by address
LOOP_CONFIGS = [(1, 12, 5, 24), (3, 12, 5, 24), (20, 9, 16, 128), (70, 6, 10, 96)]


@needs_kernel
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("config", LOOP_CONFIGS, ids=["batch1", "batch3", "batch20", "batch70"])
def test_compiled_loops_with_packed_products_equal_the_paths_without(kind, config, monkeypatch):
    """A layer on its own, at batch <= Cell.LOOP_PACKED_BATCH, runs each span as a compiled loop that
    calls the packed kernel (``kernels._product``; a batch of one has its own kernel), on one core
    or, for the larger steps (LSTM at batch 20, hidden 128), on two; above that batch, a compiled loop
    that calls NumPy's BLAS (``packed.BLAS``), the larger products left to OpenBLAS's threads. Forward,
    backward, the carried state and every gradient equal the paths without the extension."""
    B, T, I, H = config
    r = np.random.default_rng(4)
    x = r.standard_normal((B, T, I)).astype(np.float32)
    dy = r.standard_normal((B, T, H)).astype(np.float32)
    h0 = r.standard_normal((1, B, H)).astype(np.float32)
    state = (h0, h0 * 0.5) if kind == "lstm" else h0
    small = B * H * H * (4 if kind == "lstm" else 3 if kind == "gru" else 1) <= Cell.LOOP_WORK
    results = []
    for use_packed in (False, True):
        monkeypatch.setattr(packed, "ENABLED", use_packed)
        layer = KINDS[kind](I, H, rng=np.random.default_rng(0))
        results.append(run(layer, x, dy, None, None, state))
        cache = layer.units[0][0]._cache
        mode = NUMPY
        if use_packed:
            mode = (TWO_CORES if layer.cell.two_cores(B, H, np.float32)
                    else ONE_CORE if B <= Cell.LOOP_PACKED_BATCH else packed.BLAS)
        assert (cache["loops"] is not None) is (use_packed or small) and cache["packed"] == mode
        assert packed_products_ran(layer) is (mode in packed.KERNEL_MODES)
        if mode == packed.BLAS:
            assert not cache["split"]  # OpenBLAS's threads throughout
            operands = [p.loop_operands() for key, p in cache["cell"].items() if key.startswith("times_")]
            assert operands and all(address == packed.ADDRESS_BLAS for _, address, _ in operands)
    for plain, fast in zip(*results):
        assert rel_err(fast, plain) < 2e-5



@pytest.mark.parametrize("add", [False, True])
@pytest.mark.parametrize("M,K,N", [(3, 40, 45), (300, 40, 45), (45, 40, 300), (1, 5, 2), (2, 1, 3)])
def test_split_matmul_equals_numpy(M, K, N, add, monkeypatch):
    """``blas.matmul(split=True)``: halves of the rows (or of the columns, if wider than tall) on the
    caller and on the extension's helper thread, with transposed and strided operands as the weight
    gradients pass them; ``add`` accumulates. float64 and mismatched shapes go to NumPy."""
    monkeypatch.setattr(blas, "SPLIT_MIN_WORK", 1)
    r = np.random.default_rng(M * 7 + N)
    a = r.standard_normal((K, M)).astype(np.float32).T  # (M, K), a transpose
    b = r.standard_normal((K, 2 * N)).astype(np.float32)[:, ::2]  # (K, N), strided columns: copied
    base = r.standard_normal((M, N)).astype(np.float32)
    for _ in range(3):  # the helper running or asleep
        out = base.copy()
        blas.matmul(out, a, b, add=add, split=True)
        assert rel_err(out, (base if add else 0) + a.astype(np.float64) @ b) < 1e-5
    out64 = base.astype(np.float64)
    blas.matmul(out64, a.astype(np.float64), b.astype(np.float64), add=add, split=True)
    assert rel_err(out64, (base if add else 0) + a.astype(np.float64) @ b) < 1e-12
    with pytest.raises(ValueError):  # NumPy's own message
        blas.matmul(np.empty((M, N + 1), np.float32), a, b, split=True)


@needs_two_cores
def test_split_matmul_shares_the_work():
    """An input projection's size, (400 x 200) @ (200 x 800), in a row: the helper takes halves."""
    r = np.random.default_rng(13)
    a, b = r.standard_normal((400, 200)).astype(np.float32), r.standard_normal((200, 800)).astype(np.float32)
    out = np.empty((400, 800), np.float32)
    before = packed.helper_chunks()
    for _ in range(20):
        blas.matmul(out, a, b, split=True)
    assert packed.helper_chunks() > before, "the helper thread never took a half"
    assert rel_err(out, a.astype(np.float64) @ b) < 1e-5


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_helper_restarts_after_fork():
    """A forked child (a Dask or multiprocessing worker) starts its own helper thread: the parent's is
    gone (without one, the caller would take every chunk itself: right, but on one core)."""
    import multiprocessing

    r = np.random.default_rng(10)
    a, b = r.standard_normal((200, 30)).astype(np.float32), r.standard_normal((30, 50)).astype(np.float32)
    if packed.ENABLED:
        PackedMatrix(b).matmul(a[:20], np.empty((20, 50), np.float32), cores=2)  # the parent's helper runs
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_child_products, (a, b)).get(timeout=60)
    assert rel_err(got[0], a.astype(np.float64) @ b) < 1e-5
    if packed.ENABLED:
        assert rel_err(got[1], a[:20].astype(np.float64) @ b) < 1e-5
        if os.cpu_count() >= 2:
            assert got[2] > 0, "the child's two-core products never reached a helper thread"


def _child_products(a, b):
    blas.SPLIT_MIN_WORK = 1
    out = blas.matmul(np.empty((a.shape[0], b.shape[1]), np.float32), a, b, split=True)
    if not packed.ENABLED:
        return out, None, 0
    P = PackedMatrix(b)
    two = P.matmul(a[:20], np.empty((20, b.shape[1]), np.float32), cores=2)
    # products of a step's size (~0.1 ms each), many in a row, for the helper to take part in
    big = PackedMatrix(np.ones((300, 800), np.float32))
    x, y, before = np.ones((20, 300), np.float32), np.empty((20, 800), np.float32), packed.helper_chunks()
    for _ in range(200):
        big.matmul(x, y, cores=2)
    return out, two, packed.helper_chunks() - before


@needs_kernel
def test_no_second_thread_where_blas_may_use_one():
    """With one BLAS thread (``OPENBLAS_NUM_THREADS=1``, as MPI ranks and Dask workers sharing the cores
    are run, or inside ``single_threaded()``) rnnkit starts no second thread of its own either."""
    r = np.random.default_rng(14)
    a, b = r.standard_normal((400, 200)).astype(np.float32), r.standard_normal((200, 800)).astype(np.float32)
    out = np.empty((400, 800), np.float32)
    cell = LSTM(4, 4).cell
    assert cell.two_cores(20, 650, np.float32) is (blas.threads() >= 2)
    with blas.single_threaded():
        assert blas.threads() == 1 and not cell.two_cores(20, 650, np.float32)
        before = packed.helper_chunks()
        for _ in range(20):
            blas.matmul(out, a, b, split=True)
        assert packed.helper_chunks() == before
    assert rel_err(out, a.astype(np.float64) @ b) < 1e-5


@needs_kernel
def test_small_split_products_stay_on_the_caller(monkeypatch):
    """Below ``blas.SPLIT_MIN_WORK`` a split product runs on the caller alone, with one BLAS thread
    (no OpenBLAS worker woken to spin beside the helper)."""
    r = np.random.default_rng(15)
    a, b = r.standard_normal((30, 20)).astype(np.float32), r.standard_normal((20, 40)).astype(np.float32)
    assert 30 * 20 * 40 < blas.SPLIT_MIN_WORK
    seen, product = [], blas._product
    monkeypatch.setattr(blas, "_product", lambda *args: (seen.append(blas.threads()), product(*args)))
    threads, before = blas.threads(), packed.helper_chunks()
    out = blas.matmul(np.ones((30, 40), np.float32), a, b, add=True, split=True)
    assert rel_err(out, 1 + a.astype(np.float64) @ b) < 1e-5
    assert seen == [1] and packed.helper_chunks() == before and blas.threads() == threads
