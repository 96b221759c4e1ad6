"""The quantities behind the gradient flow: W_h spectra and the recomputed gate activations."""

import numpy as np
import pytest

from rnnkit.diagnostics import activation_stats, activations, spectrum, unstack
from rnnkit.nn import GRU, LSTM, RNN


def orthogonal(n, rng):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


@pytest.mark.parametrize("make", [
    lambda rng: RNN(3, 6, dtype=np.float64, rng=rng),
    lambda rng: RNN(3, 6, nonlinearity="relu", dtype=np.float64, rng=rng),
    lambda rng: LSTM(3, 6, dtype=np.float64, forget_bias=1.0, rng=rng),
    lambda rng: GRU(3, 6, dtype=np.float64, rng=rng),
    lambda rng: GRU(3, 6, reset="before", dtype=np.float64, rng=rng),
])
def test_recomputed_activations_reproduce_the_engine(make):
    """The gates are recomputed from parameters and states; they must give the engine's h_t."""
    rng = np.random.default_rng(0)
    net = make(rng)
    for param in net.parameters():  # every parameter non-zero (GRU's b_hn starts at 0)
        param += rng.uniform(-0.3, 0.3, size=param.shape)
    x = rng.standard_normal((4, 11, 3))
    h, _ = net.forward(x)  # (B, T, H)
    acts = activations(unstack(net, x)[0])
    np.testing.assert_allclose(acts["h"].transpose(1, 0, 2), h, rtol=0, atol=1e-13)


@pytest.mark.parametrize("cls, gates", [(RNN, "h"), (LSTM, "ifgo"), (GRU, "rzn")])
def test_spectrum_of_each_gate_block(cls, gates):
    rng = np.random.default_rng(1)
    H = 5
    net = cls(2, H, dtype=np.float64, rng=rng)
    scales = 0.5 + np.arange(len(gates))  # gate j's block is scale_j * Q_j
    net.units[0][0].params["W_h"][...] = np.concatenate([s * orthogonal(H, rng) for s in scales], axis=1)
    spec = spectrum(unstack(net, np.zeros((1, 3, 2)))[0])
    assert list(spec) == list(gates)
    for gate, s in zip(gates, scales):
        np.testing.assert_allclose(spec[gate]["singular_values"], s, rtol=1e-12)
        assert spec[gate]["spectral_radius"] == pytest.approx(s, rel=1e-12)


def test_forget_gate_near_one_and_tanh_saturation_are_counted():
    rng = np.random.default_rng(2)
    lstm = LSTM(2, 4, dtype=np.float64, forget_bias=8.0, init="uniform", init_scale=0.01, rng=rng)
    stats = activation_stats(unstack(lstm, rng.uniform(size=(3, 6, 2)))[0])
    assert stats["f"]["fraction_near_one"] == 1.0  # sigmoid(8 +- 0.1) > 0.9997
    assert stats["i"]["fraction_near_one"] == 0.0  # sigmoid(0 +- 0.1) ~ 0.5
    rnn = RNN(1, 3, dtype=np.float64, rng=rng)
    rnn.units[0][0].params["W_x"][...] = 10.0  # |h| ~ tanh(10 x): saturated where |x| is large
    x = np.array([5.0, 0.0, -5.0, 0.001]).reshape(1, 4, 1)
    rnn.units[0][0].params["W_h"][...] = 0.0
    rnn.units[0][0].params["b"][...] = 0.0
    stats = activation_stats(unstack(rnn, x)[0])["tanh'"]
    assert stats["fraction_saturated"] == pytest.approx(0.5)  # the two steps with |x| = 5
    assert sum(stats["histogram"]) == 12
