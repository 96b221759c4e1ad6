"""Gradient flow through time equals the chain rule's closed form.

- A linear RNN, ``h_t = h_{t-1} W_h + x_t W_x`` (written here from its equation, with the
  ``Recurrent`` contract): ``dL_t/dh_{t-k} = u_t (W_h^T)^k`` exactly; with ``W_h = rho Q`` (``Q``
  orthogonal) every norm is ``rho^k``, so the curve's slope is ``log10 rho``.
- The engine's tanh RNN: the explicit product of ``diag(1 - h_s^2) W_h^T`` from its hidden states.
- LSTM and GRU: central differences through the engine's forward pass.
"""

import numpy as np
import pytest

from rnnkit.diagnostics import gradient_flow, random_probes, step_states, unstack
from rnnkit.nn import GRU, LSTM, RNN


class LinearRNN:
    """``h_t = h_{t-1} W_h + x_t W_x``, batch-first, state ``(1, B, H)``: the Recurrent contract."""

    def __init__(self, W_x, W_h):
        self.W_x, self.W_h = W_x, W_h

    def forward(self, x, state=None):
        B, T, _ = x.shape
        h = np.zeros((B, self.W_h.shape[0])) if state is None else state[0]
        self.T, ys = T, []
        for t in range(T):
            h = h @ self.W_h + x[:, t] @ self.W_x
            ys.append(h)
        return np.stack(ys, axis=1), h[None]

    def backward(self, dy, dstate=None):
        dh = np.zeros_like(dy[:, 0]) if dstate is None else dstate[0].copy()
        dx = np.zeros((dy.shape[0], self.T, self.W_x.shape[0]))
        for t in range(self.T - 1, -1, -1):
            dh = dh + dy[:, t]
            dx[:, t] = dh @ self.W_x.T
            dh = dh @ self.W_h.T  # dh_{t-1} = dh_t W_h^T
        return dx, dh[None]


def orthogonal(n, rng):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


@pytest.mark.parametrize("rho", [0.8, 1.0, 1.15])
def test_linear_rnn_scaled_orthogonal_decays_at_rho_per_step(rho):
    rng = np.random.default_rng(0)
    B, T, I, H = 3, 30, 2, 6
    layer = LinearRNN(rng.standard_normal((I, H)), rho * orthogonal(H, rng))
    curve = gradient_flow(layer, rng.standard_normal((B, T, I)), rng=rng)
    expected = curve.lags * np.log10(rho)
    np.testing.assert_allclose(curve.log10_mean, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(curve.log10_q10, expected, rtol=0, atol=1e-12)
    if rho != 1.0:
        assert curve.steps_per_decade() == pytest.approx(-1 / np.log10(rho), rel=1e-9)


def test_linear_rnn_matches_closed_form_per_position():
    """A non-normal W_h: every position's norm is ||u_t (W_h^T)^k||, whatever its size."""
    rng = np.random.default_rng(1)
    B, T, I, H = 2, 25, 3, 5
    W_h = 0.6 * rng.standard_normal((H, H))
    layer = LinearRNN(rng.standard_normal((I, H)), W_h)
    probes = random_probes((T, B, H), rng)
    curve = gradient_flow(layer, rng.standard_normal((B, T, I)), probes=probes, max_lag=T - 1)
    for k in range(T):
        P = np.linalg.matrix_power(W_h.T, k)
        expected = np.log10(np.linalg.norm(probes[k:] @ P, axis=-1))  # origins t = k .. T-1
        np.testing.assert_allclose(curve.per_position[k, k:], expected, rtol=0, atol=1e-11)
        assert np.isnan(curve.per_position[k, :k]).all()


def test_tanh_rnn_matches_explicit_jacobian_product():
    rng = np.random.default_rng(2)
    B, T, I, H = 3, 20, 2, 7
    rnn = RNN(I, H, dtype=np.float64, rng=rng)
    x = rng.standard_normal((B, T, I))
    view = unstack(rnn, x)[0]
    probes = random_probes((T, B, H), rng)
    curve = gradient_flow(view.layer, view.x, probes=probes)
    h, _ = rnn.forward(x)  # (B, T, H): h_t
    W_h = rnn.units[0][0].params["W_h"]
    for t in (T - 1, 11, 5):
        g = probes[t]  # (B, H) = dL_t/dh_t
        for k in range(t + 1):
            np.testing.assert_allclose(curve.per_position[k, t], np.log10(np.linalg.norm(g, axis=-1)),
                                       rtol=0, atol=1e-10)
            s = t - k  # one more step back: dh_{s-1} = (dh_s * (1 - h_s^2)) W_h^T
            g = (g * (1 - h[:, s] ** 2)) @ W_h.T


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_gated_cells_match_finite_differences(cls):
    rng = np.random.default_rng(3)
    B, T, I, H = 2, 9, 3, 4
    net = cls(I, H, dtype=np.float64, rng=rng)
    x = rng.standard_normal((B, T, I))
    view = unstack(net, x)[0]
    probes = random_probes((T, B, H), rng)
    curve = gradient_flow(view.layer, view.x, probes=probes)
    states = step_states(view.layer, view.x)  # per component (T+1, B, H): index s = before step s

    def loss(t, k, part, i, delta):
        """u_t . h_t with component ``part`` of the state after step t-k nudged in unit i."""
        start = [st[t - k + 1].copy()[None] for st in states]
        start[part][0, :, i] += delta
        y, _ = view.layer.forward(view.x[:, t - k + 1 : t + 1], start[0] if len(start) == 1 else tuple(start))
        return (y[:, -1] * probes[t]).sum(axis=-1)  # (B,)

    eps = 1e-6
    for t, k in ((8, 1), (8, 5), (6, 6)):
        for part, recorded in ((0, curve.per_position), (1, None)):
            if part == 1 and cls is GRU:
                continue
            grad = np.stack([(loss(t, k, part, i, eps) - loss(t, k, part, i, -eps)) / (2 * eps) for i in range(H)], -1)
            if recorded is None:  # the LSTM's cell state: only the mean is kept
                got = curve.cell_log10_mean[k]
                want = np.log10(np.mean(np.linalg.norm(
                    np.stack([_fd_cell(loss, tt, k, H, eps) for tt in range(k, T)]), axis=-1)))
                assert got == pytest.approx(want, abs=1e-7)
            else:
                np.testing.assert_allclose(recorded[k, t], np.log10(np.linalg.norm(grad, axis=-1)), atol=1e-7)


def _fd_cell(loss, t, k, H, eps):
    return np.stack([(loss(t, k, 1, i, eps) - loss(t, k, 1, i, -eps)) / (2 * eps) for i in range(H)], -1)


def test_unstack_reproduces_the_stack_and_its_reverse_direction():
    rng = np.random.default_rng(4)
    net = GRU(3, 5, num_layers=2, bidirectional=True, dtype=np.float64, rng=rng)
    net.eval()
    x = rng.standard_normal((2, 7, 3))
    y, _ = net.forward(x)
    views = unstack(net, x)
    assert [v.name for v in views] == ["layer 0", "layer 0 (reverse)", "layer 1", "layer 1 (reverse)"]
    top = [v.layer.forward(v.x)[0] for v in views[2:]]
    np.testing.assert_allclose(np.concatenate([top[0], top[1][:, ::-1]], axis=-1), y, rtol=0, atol=1e-13)


def test_bad_lag_and_missing_probes_are_explained():
    layer = LinearRNN(np.eye(2), np.eye(2))
    with pytest.raises(ValueError, match="max_lag in"):
        gradient_flow(layer, np.zeros((1, 4, 2)), max_lag=4, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="probes"):
        gradient_flow(layer, np.zeros((1, 4, 2)))
