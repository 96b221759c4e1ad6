"""The packed-operand product kernel (``nn/_packed.c`` through ``nn/packed.py``) equals NumPy's product:
alone, over tile and block edges, transposed and strided operands, with an addend; and inside whole
layers, where a stack's wavefront runs its steps' products through it, and where a compiled span loop
calls it: forward, backward and every gradient against the NumPy path (with lengths, resets and a
carried state) and against PyTorch."""

import platform

import numpy as np
import pytest
from _support import rel_err, run_torch, torch_twin

from rnnkit import grads_to_torch_state_dict
from rnnkit.nn import GRU, LSTM, RNN, packed, wavefront
from rnnkit.nn.cells import Cell
from rnnkit.nn.packed import PackedMatrix, Product

X86 = platform.machine().lower() in ("x86_64", "amd64")


def test_kernel_is_built_and_used_on_x86():
    """CI's x86-64 machines build the extension at install; if this fails, the fast path is gone."""
    if not X86:
        pytest.skip("the packed kernel is x86-64 (AVX2, FMA) only; elsewhere NumPy runs the products")
    assert packed.ENABLED, "rnnkit.nn._packed was not built or not loaded: reinstall with a C compiler"


needs_kernel = pytest.mark.skipif(not packed.ENABLED, reason="packed kernel not available on this machine")


# (M, K, N): micro-tiles are 5 rows x 16 columns and W is blocked by 384 rows, so these cover one
# partial tile, exact tiles, a ragged last panel, one and several K-blocks; a single row has its own
# kernel (groups of four panels, then single panels)
SHAPES = [(1, 1, 1), (3, 7, 5), (5, 16, 16), (20, 200, 800), (7, 385, 33), (21, 800, 37), (2, 1000, 70),
          (1, 50, 64), (1, 300, 70), (1, 400, 517)]  # one row: four panels at a time, then the rest


@needs_kernel
@pytest.mark.parametrize("M,K,N", SHAPES)
def test_matmul_equals_numpy(M, K, N):
    r = np.random.default_rng(M * 1000 + K)
    W = r.standard_normal((K, N)).astype(np.float32)
    a = r.standard_normal((M, K)).astype(np.float32)
    add = r.standard_normal((M, N)).astype(np.float32)
    expected = a.astype(np.float64) @ W.astype(np.float64)
    out = np.full((M, N), np.nan, np.float32)
    P = PackedMatrix(W)
    assert rel_err(P.matmul(a, out), expected) < 1e-5
    assert rel_err(P.matmul(a, out, add), expected + add) < 1e-5
    np.copyto(out, add)
    assert rel_err(P.matmul(a, out, out), expected + add) < 1e-5  # the addend may be the output


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


@needs_kernel
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("extras", ["plain", "lengths+state", "resets"])
def test_wavefront_with_packed_products_equals_numpy_path(kind, extras, monkeypatch):
    if not wavefront.available():
        pytest.skip("no wavefront on this machine (one core, or RNNKIT_WAVEFRONT=0)")
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
        layer.use_wavefront = True
        results.append(run(layer, x, dy, lengths, resets, state))
        assert layer._cache["wavefront"] and packed_products_ran(layer) is use_packed
    for plain, fast in zip(*results):
        assert rel_err(fast, plain) < 2e-5


@needs_kernel
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_packed_path_matches_torch_float32(kind):
    if not wavefront.available():
        pytest.skip("no wavefront on this machine (one core, or RNNKIT_WAVEFRONT=0)")
    B, T, I, H, L = 20, 7, 12, 128, 2
    ours = KINDS[kind](I, H, num_layers=L, rng=np.random.default_rng(0))
    ours.use_wavefront = True
    theirs = torch_twin(ours)
    r = np.random.default_rng(1)
    x, dy = r.standard_normal((B, T, I)).astype(np.float32), r.standard_normal((B, T, H)).astype(np.float32)
    h0 = r.standard_normal((L, B, H)).astype(np.float32)
    state, dstate = ([h0, -h0], [h0 * 0.5, h0 * 0.25]) if kind == "lstm" else ([h0], [h0 * 0.5])
    y_ref, final_ref, dx_ref, d0_ref, grads_ref = run_torch(theirs, x, state, None, dy, dstate)
    pack = tuple if kind == "lstm" else (lambda s: s[0])
    y, final = ours.forward(x, pack(state))
    dx, dstate0 = ours.backward(dy, pack(dstate))
    assert packed_products_ran(ours)
    assert rel_err(y, y_ref) < 1e-5
    assert rel_err(dx, dx_ref) < 1e-5
    as_list = list if kind == "lstm" else (lambda s: [s])
    for got, want in zip(as_list(final) + as_list(dstate0), final_ref + d0_ref):
        assert rel_err(got, want) < 1e-5
    for name, grad in grads_to_torch_state_dict(ours).items():
        assert rel_err(grad, grads_ref[name]) < 1e-5, name


# (batch, time, input, hidden): small steps run compiled span loops with or without the kernel (their
# products then row by row in Numba); at batch 20, hidden 128 a step is too large for those, so without
# the kernel the layer runs the Python loop with NumPy's products
LOOP_CONFIGS = [(1, 12, 5, 24), (3, 12, 5, 24), (20, 9, 16, 128)]


@needs_kernel
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("config", LOOP_CONFIGS, ids=["batch1", "batch3", "batch20"])
def test_compiled_loops_with_packed_products_equal_the_paths_without(kind, config, monkeypatch):
    """A layer on its own, at batch <= Cell.LOOP_PACKED_BATCH, runs each span as a compiled loop that
    calls the packed kernel (``kernels._add_product``; a batch of one has its own kernel). Forward,
    backward, the carried state and every gradient equal the paths without the kernel."""
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
        assert (cache["loops"] is not None) is (use_packed or small) and cache["packed"] is use_packed
        assert packed_products_ran(layer) is use_packed
    for plain, fast in zip(*results):
        assert rel_err(fast, plain) < 2e-5
