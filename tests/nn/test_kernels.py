"""The fused float32 kernels (Numba, ``nn/kernels.py``) equal the NumPy equations they replace:
through whole layers (forward, backward, every gradient; with lengths, resets and a carried state),
through the stepper, in the softmax, SGD and the embedding; ``tanh32`` and the softmax's ``exp``
against float64 over the whole line. Each comparison also checks that the kernel really ran."""

import numpy as np
import pytest
from _support import no_c_softmax, rel_err

from rnnkit.nn import GRU, LSTM, RNN, Embedding, SoftmaxCrossEntropy, blas, fastpath, packed
from rnnkit.nn.stepper import Stepper

KINDS = {
    "rnn-tanh": lambda I, H, **kw: RNN(I, H, **kw),
    "lstm": lambda I, H, **kw: LSTM(I, H, **kw),
    "gru": lambda I, H, **kw: GRU(I, H, **kw),
}
# (batch, time, input, hidden, layers, variable lengths, resets): the first runs the compiled span
# loops (small products, plain spans); the second too where the extension is built, its steps' larger
# products through NumPy's BLAS (``packed.BLAS``: a batch above Cell.TWO_CORE_BATCH_CACHED), else the
# per-step kernels inside the Python loop, as the others do (lengths, resets)
CONFIGS = [(1, 30, 5, 16, 1, False, False), (65, 5, 4, 300, 1, False, False), (4, 9, 3, 33, 2, True, False),
           (3, 11, 4, 8, 2, False, True)]


def fetched_kernels(monkeypatch) -> list[str]:
    """The names of the kernels the code under test asks ``fastpath`` for, from here on."""
    names, get = [], fastpath.get

    def recording_get(name):
        names.append(name)
        return get(name)

    monkeypatch.setattr(fastpath, "get", recording_get)
    return names


def run(make, dtype, config, kernels: bool, monkeypatch):
    monkeypatch.setattr(fastpath, "ENABLED", kernels)
    B, T, I, H, L, var_len, use_resets = config
    r = np.random.default_rng(3)
    layer = make(I, H, num_layers=L, dtype=dtype, rng=np.random.default_rng(0))
    x, dy = r.standard_normal((B, T, I)).astype(dtype), r.standard_normal((B, T, H)).astype(dtype)
    lengths = r.integers(1, T + 1, B) if var_len else None
    resets = r.random((B, T)) < 0.25 if use_resets else None
    n_state = 2 if isinstance(layer, LSTM) else 1
    pack = (lambda s: tuple(s) if n_state == 2 else s[0])  # noqa: E731
    state0 = pack([r.standard_normal((L, B, H)).astype(dtype) for _ in range(n_state)])
    dstate = pack([r.standard_normal((L, B, H)).astype(dtype) for _ in range(n_state)])
    y, final = layer.forward(x, state0, lengths=lengths, resets=resets)
    cache = layer.units[0][0]._cache  # the path under test really ran:
    assert (cache["cell"]["kernels"] is not None) is kernels
    looped = config is CONFIGS[0] or (config is CONFIGS[1] and packed.blas_loops(dtype))
    assert (cache["loops"] is not None) is (kernels and looped)
    dx, dstate0 = layer.backward(dy, dstate)
    flat = lambda s: list(s) if isinstance(s, tuple) else [s]  # noqa: E731
    return [y, dx, *flat(final), *flat(dstate0), *(g.copy() for g in layer.gradients())]


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("config", CONFIGS, ids=[f"cfg{i}" for i in range(len(CONFIGS))])
def test_kernels_equal_the_numpy_equations(kind, config, monkeypatch):
    plain = run(KINDS[kind], np.float32, config, False, monkeypatch)
    fused = run(KINDS[kind], np.float32, config, True, monkeypatch)
    for want, got in zip(plain, fused):
        assert rel_err(got, want) < 2e-6


def test_float64_never_uses_the_kernels(monkeypatch):
    monkeypatch.setattr(fastpath, "ENABLED", True)
    layer = LSTM(3, 4, dtype=np.float64)
    layer.forward(np.zeros((2, 5, 3)))
    assert layer.units[0][0]._cache["cell"]["kernels"] is None


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_stepper_with_kernels_equals_the_numpy_stepper(kind, monkeypatch):
    layer = KINDS[kind](5, 12, num_layers=2, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((20, 1, 5)).astype(np.float32)
    outs = []
    for kernels in (False, True):
        monkeypatch.setattr(fastpath, "ENABLED", kernels)
        stepper, hs = Stepper(layer, 1), []
        assert (stepper.caches[0]["kernels"] is not None) is kernels  # the path under test really ran
        state = (np.zeros((2, 1, 12), np.float32),) * 2 if kind == "lstm" else np.zeros((2, 1, 12), np.float32)
        for x_t in x:
            h, state = stepper.step(x_t, state)
            hs.append(h.copy())
        outs.append(np.stack(hs))
    assert rel_err(outs[1], outs[0]) < 2e-6


def test_tanh32_is_within_float32_rounding_of_tanh():
    from rnnkit.nn import kernels

    x = np.concatenate([np.linspace(-20, 20, 400_001), np.geomspace(1e-30, 20, 10_000)]).astype(np.float32)
    x = np.concatenate([x, -x, [0.0, np.inf, -np.inf, np.nan]]).astype(np.float32)
    got = x.copy()
    kernels.tanh_(got[None])
    want = np.tanh(x.astype(np.float64))
    assert np.all(np.abs(got - want)[:-1] <= 4e-7 * np.maximum(np.abs(want[:-1]), 1e-38))
    assert np.all(got[x == 0] == 0) and got[-3] == 1 and got[-2] == -1
    assert np.isnan(got[-1])  # a diverged state stays visible


def test_softmax_cross_entropy_kernel_equals_numpy(monkeypatch):
    r = np.random.default_rng(5)
    logits = (r.standard_normal((6, 7, 300)) * 20).astype(np.float32)
    logits[0, 0, :5] = -np.inf  # masked-out classes: exactly 0 probability
    logits[1, 2, 7] = 1e4  # one dominant class
    targets = r.integers(0, 300, (6, 7))
    results, fetched = [], fetched_kernels(monkeypatch)
    two_cores = packed.softmax_exps
    # NumPy; the compiled kernel on one core; the C kernel on two (where the extension runs)
    for kernels, c_kernel in ((False, False), (True, False), (True, True)):
        monkeypatch.setattr(fastpath, "ENABLED", kernels)
        monkeypatch.setattr(packed, "softmax_exps", two_cores if c_kernel else no_c_softmax)
        loss_fn = SoftmaxCrossEntropy()
        loss = loss_fn.forward(logits, targets)
        results.append((loss, loss_fn.backward()))
        if c_kernel and packed.ENABLED:
            assert two_cores(logits.reshape(-1, 300)) is not None or blas.threads() < 2
    (loss_np, grad_np), *fast = results
    assert fetched == ["softmax_exps"]
    for loss_k, grad_k in fast:
        assert abs(loss_k - loss_np) <= 1e-6 * abs(loss_np)
        assert rel_err(grad_k, grad_np) < 1e-6
        assert np.all(grad_k[0, 0, :5] == 0)
    logits[3, 3, 3] = np.nan  # a diverged model shows as a NaN loss, never as a finite one
    for c_kernel in (False, True):
        monkeypatch.setattr(packed, "softmax_exps", two_cores if c_kernel else no_c_softmax)
        assert np.isnan(SoftmaxCrossEntropy().forward(logits, targets))


@pytest.mark.skipif(not packed.ENABLED, reason="packed extension not built")
@pytest.mark.parametrize("N, V", [(1, 1), (3, 7), (5, 8), (40, 13), (700, 10000)])
def test_two_core_softmax_exps_match_float64(N, V):
    """The C kernel (``packed.softmax_exps``): row maxima exact, exponentials within float32 rounding
    (a ragged tail of fewer than 8 columns included), sums within 1e-6; -inf gives exactly 0, a
    NaN makes its row's sum NaN."""
    r = np.random.default_rng(N + V)
    z = (r.standard_normal((N, 2 * V)) * 10).astype(np.float32)[:, ::2]  # strided columns: refused
    assert V == 1 or packed.softmax_exps(z) is None
    z = np.ascontiguousarray(z)
    if V > 1:  # a masked-out class beside others
        z[0, 0] = -np.inf
    got = packed.softmax_exps(z)
    if blas.threads() < 2:
        assert got is None
        return
    row_max, exps, row_sum = got
    want = np.exp(z.astype(np.float64) - z.max(axis=1, keepdims=True))
    assert np.array_equal(row_max, z.max(axis=1))
    assert np.abs(exps - want).max() < 2e-7 and (V == 1 or exps[0, 0] == 0)
    assert rel_err(row_sum, want.sum(axis=1)) < 1e-6
    scale = r.uniform(0, 2, N).astype(np.float32)
    scale[0] = 0  # a row that does not count
    _, probs, _ = packed.softmax_exps(z, scale)  # each row scaled by scale / sum, in the same pass
    want_probs = want / want.sum(axis=1, keepdims=True) * scale[:, None]
    assert np.abs(probs - want_probs).max() < 4e-7 * max(1.0, scale.max())
    assert np.all(probs[0] == 0)
    z[-1, V // 2] = np.nan
    assert np.isnan(packed.softmax_exps(z)[2][-1])
    assert np.all(np.isnan(packed.softmax_exps(z, scale)[1][-1]))


def test_softmax_exps_is_within_float32_rounding_of_exp():
    from rnnkit.nn import kernels

    x = np.concatenate([np.linspace(-87, 0, 300_001), -np.geomspace(1e-30, 87, 10_000)]).astype(np.float32)
    z = x[None]
    got = np.empty_like(z)
    kernels.softmax_exps(z, np.zeros(1, np.float32), got, np.empty(z.shape[1], np.int32))
    want = np.exp(x.astype(np.float64))
    assert np.all(np.abs(got[0] - want) <= 2e-7 * want)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_update_kernel_equals_numpy(momentum, monkeypatch):
    from rnnkit.optim import SGD

    results, fetched = [], fetched_kernels(monkeypatch)
    for kernels in (False, True):
        monkeypatch.setattr(fastpath, "ENABLED", kernels)
        layer = LSTM(3, 5, rng=np.random.default_rng(0))
        opt = SGD(layer, lr=0.3, momentum=momentum)
        for seed in range(3):
            for _, _, g in layer.named_parameters():
                g[...] = np.random.default_rng(seed).standard_normal(g.shape)
            opt.step()
        results.append([p.copy() for _, p, _ in layer.named_parameters()])
    assert fetched.count("add_scaled") == 3 * 3  # every parameter, every step, with kernels only
    for plain, fused in zip(*results):
        np.testing.assert_array_equal(fused, plain)  # y + (-lr) x rounds as y - lr x does


def test_embedding_gradient_kernel_equals_numpy(monkeypatch):
    ids = np.random.default_rng(0).integers(0, 7, (5, 9))  # repeated ids must add up
    dy = np.random.default_rng(1).standard_normal((5, 9, 4)).astype(np.float32)
    grads, fetched = [], fetched_kernels(monkeypatch)
    for kernels in (False, True):
        monkeypatch.setattr(fastpath, "ENABLED", kernels)
        emb = Embedding(7, 4, rng=np.random.default_rng(0))
        emb.forward(ids)
        emb.backward(dy)
        grads.append(emb.grads["W"].copy())
    assert fetched == ["add_rows"]
    assert rel_err(grads[1], grads[0]) < 1e-6
