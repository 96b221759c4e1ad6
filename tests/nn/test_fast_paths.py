"""The performance paths equal the plain ones: the two-thread wavefront over a stack equals running
the layers one after another (and PyTorch), the LSTM's one-pass gate activation equals the per-gate
formulas, and the fused softmax cross-entropy equals its textbook formula."""

import threading

import numpy as np
import pytest
import torch
from _support import rel_err, torch_twin

from rnnkit import grads_to_torch_state_dict
from rnnkit.nn import GRU, LSTM, RNN, SoftmaxCrossEntropy, wavefront
from rnnkit.nn.cells import LSTMCell

KINDS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}

# (batch, time, input, hidden, layers, dropout, variable lengths, resets, carried state)
CONFIGS = [
    (3, 7, 5, 4, 2, 0.0, False, False, False),
    (4, 9, 3, 6, 3, 0.3, True, False, True),
    (2, 11, 4, 5, 2, 0.2, False, True, True),
    (5, 1, 3, 3, 2, 0.0, False, False, False),
]


def run(layer, x, dy, lengths, resets, state, dstate):
    y, final = layer.forward(x, state, lengths=lengths, resets=resets)
    dx, dstate0 = layer.backward(dy, dstate)
    flat = lambda s: list(s) if isinstance(s, tuple) else [s]  # noqa: E731
    return [y, dx, *flat(final), *flat(dstate0), *(g.copy() for g in layer.gradients())]


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("config", CONFIGS, ids=[f"cfg{i}" for i in range(len(CONFIGS))])
def test_wavefront_equals_layer_by_layer(kind, config):
    B, T, I, H, L, dropout, var_len, use_resets, carried = config
    r = np.random.default_rng(7)
    x, dy = r.standard_normal((B, T, I)), r.standard_normal((B, T, H))
    lengths = r.integers(1, T + 1, B) if var_len else None
    resets = r.random((B, T)) < 0.25 if use_resets else None
    n_state = 2 if kind == "lstm" else 1
    states = [r.standard_normal((L, B, H)) for _ in range(2 * n_state)] if carried else None
    pack = (lambda s: tuple(s) if n_state == 2 else s[0])  # noqa: E731
    state, dstate = (pack(states[:n_state]), pack(states[n_state:])) if carried else (None, None)
    results = []
    for mode in (False, True):
        layer = KINDS[kind](I, H, num_layers=L, dropout=dropout, dtype=np.float64, rng=np.random.default_rng(0))
        layer.use_wavefront = mode
        results.append(run(layer, x, dy, lengths, resets, state, dstate))
        assert layer._cache["wavefront"] is mode  # the path under test really ran
    for plain, fast in zip(*results):
        assert rel_err(fast, plain) < 1e-12


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_wavefront_matches_torch_float32(kind):
    B, T, I, H, L = 4, 13, 6, 8, 3
    ours = KINDS[kind](I, H, num_layers=L, rng=np.random.default_rng(0))
    ours.use_wavefront = True
    theirs = torch_twin(ours)
    r = np.random.default_rng(1)
    x, dy = r.standard_normal((B, T, I)).astype(np.float32), r.standard_normal((B, T, H)).astype(np.float32)
    y, _ = ours.forward(x)
    dx, _ = ours.backward(dy)
    assert ours._cache["wavefront"]
    xt = torch.tensor(x, requires_grad=True)
    yt, _ = theirs(xt)
    yt.backward(torch.tensor(dy))
    assert rel_err(y, yt.detach().numpy()) < 1e-5
    assert rel_err(dx, xt.grad.numpy()) < 1e-5
    expected = {k: v.grad.numpy() for k, v in theirs.named_parameters()}
    for name, grad in grads_to_torch_state_dict(ours).items():
        assert rel_err(grad, expected[name]) < 1e-5, name


def test_wavefront_is_the_default_for_large_stacks_whose_steps_are_not_on_two_cores():
    r = np.random.default_rng(0)
    big = LSTM(8, 256, num_layers=2, rng=r)  # 40 * 256 * 1024 multiply-adds per step
    assert not big.cell.two_cores(40, 256, np.float32, stack=True)  # above Cell.TWO_CORE_BATCH
    big.forward(np.zeros((40, 3, 8), np.float32))
    assert big._cache["wavefront"] is wavefront.available()
    huge = LSTM(8, 650, num_layers=2, rng=r)  # shape (a), 20 * 650 * 2600: each layer's steps on two cores
    huge.forward(np.zeros((20, 3, 8), np.float32))
    assert huge._cache["wavefront"] is (wavefront.available() and not huge.cell.two_cores(20, 650, np.float32))
    small = LSTM(8, 200, num_layers=2, rng=r)  # shape (b): 20 * 200 * 800
    small.forward(np.zeros((20, 3, 8), np.float32))
    assert small._cache["wavefront"] is False


def test_wavefront_run_reraises_and_never_hangs():
    calls = []

    def work(k, j):
        calls.append((k, j))
        if (k, j) == (0, 1):
            raise ZeroDivisionError("boom")

    done = threading.Event()
    with pytest.raises(ZeroDivisionError, match="boom"):
        try:
            wavefront.run(3, 4, work)
        finally:
            done.set()
    assert done.is_set()
    assert (1, 1) not in calls and (2, 1) not in calls  # nothing ran past the failed span


def test_wavefront_run_orders_spans():
    order = []
    lock = threading.Lock()

    def work(k, j):
        with lock:
            order.append((k, j))

    wavefront.run(3, 5, work)
    assert sorted(order) == [(k, j) for k in range(3) for j in range(5)]
    pos = {kj: i for i, kj in enumerate(order)}
    assert all(pos[(k - 1, j)] < pos[(k, j)] for k in range(1, 3) for j in range(5))
    assert all(pos[(k, j - 1)] < pos[(k, j)] for k in range(3) for j in range(1, 5))


@pytest.mark.parametrize("T", [1, 2, 7, 8, 35, 1000])
def test_spans_cover_time_once(T):
    bounds = wavefront.spans(T)
    assert bounds[0][0] == 0 and bounds[-1][1] == T
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(bounds, bounds[1:]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_one_pass_activation_equals_per_gate_formulas(dtype):
    H = 5
    a = np.random.default_rng(0).standard_normal((3, 4 * H)).astype(dtype) * 6
    s, off, lo = LSTMCell.gate_vectors(H, np.dtype(dtype))
    fused = s * np.tanh(s * a) + off
    sigmoid = lambda v: (1 + np.tanh(v * dtype(0.5))) * dtype(0.5)  # noqa: E731
    plain = np.concatenate([sigmoid(a[:, : 2 * H]), np.tanh(a[:, 2 * H : 3 * H]), sigmoid(a[:, 3 * H :])], axis=1)
    np.testing.assert_array_equal(fused, plain)  # scaling by 1/2 is exact: bit for bit
    deriv = (fused - lo) * (1 - fused)
    y = plain
    plain_deriv = np.concatenate([y[:, : 2 * H] * (1 - y[:, : 2 * H]), 1 - y[:, 2 * H : 3 * H] ** 2,
                                  y[:, 3 * H :] * (1 - y[:, 3 * H :])], axis=1)
    np.testing.assert_allclose(deriv, plain_deriv, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_equals_textbook_formula(dtype):
    r = np.random.default_rng(0)
    logits = (r.standard_normal((4, 5, 11)) * 30).astype(dtype)
    targets = r.integers(0, 11, (4, 5))
    mask = r.random((4, 5)) < 0.8
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(logits, targets, mask)
    dz = loss_fn.backward(2.0)
    assert dz.dtype == dtype  # no float64 upcast in a float32 path
    z = logits.astype(np.float64)
    logp = z - z.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, targets[..., None], -1)[..., 0]
    assert abs(loss - nll[mask].mean()) < (1e-5 if dtype == np.float32 else 1e-12) * max(1.0, abs(loss))
    expected = np.exp(logp)
    expected[np.nonzero(mask) + (targets[mask],)] -= 1
    expected *= 2.0 * mask[..., None] / mask.sum()
    assert rel_err(dz, expected) < (1e-6 if dtype == np.float32 else 1e-12)


def test_vanishing_state_gradients_are_flushed_to_zero_not_left_subnormal():
    """A gradient that decays through 200 steps would pass through float32's subnormal range (slow
    arithmetic on x86); the backward pass flushes the state gradient to exact zeros instead (the
    few steps between two flushes may still leave subnormals in ``dx``)."""
    r = np.random.default_rng(0)
    layer = LSTM(2, 32, rng=np.random.default_rng(0))  # a tanh RNN's gradient underflows to 0 by itself
    x = r.random((4, 200, 2)).astype(np.float32)
    dy = np.zeros((4, 200, 32), np.float32)
    dy[:, -1] = r.standard_normal((4, 32))
    layer.forward(x)
    dx, dstate0 = layer.backward(dy)
    tiny = np.finfo(np.float32).tiny
    for a in dstate0:
        assert not np.any((a != 0) & (np.abs(a) < tiny)), "subnormal values in the initial-state gradient"
        assert np.all(a == 0)
    assert np.any(np.abs(dx[:, -1]) > 1e-3)  # alive where the loss is
