"""The original-form GRU (Cho et al. 2014, reset before the hidden product), which torch lacks, against
a reference written directly from the equations."""

import numpy as np

from rnnkit.nn import GRU


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def reference_gru(x, h0, W_x, W_h, b):
    """r = σ(x W_xr + h W_hr + b_r); z = σ(x W_xz + h W_hz + b_z);
    n = tanh(x W_xn + (r ⊙ h) W_hn + b_n); h' = (1 - z) ⊙ n + z ⊙ h."""
    H = h0.shape[1]
    h, ys = h0, []
    for t in range(x.shape[1]):
        xt = x[:, t]
        r = sigmoid(xt @ W_x[:, :H] + h @ W_h[:, :H] + b[:H])
        z = sigmoid(xt @ W_x[:, H:2 * H] + h @ W_h[:, H:2 * H] + b[H:2 * H])
        n = np.tanh(xt @ W_x[:, 2 * H:] + (r * h) @ W_h[:, 2 * H:] + b[2 * H:])
        h = (1 - z) * n + z * h
        ys.append(h)
    return np.stack(ys, axis=1), h


def test_original_gru_matches_equations():
    rng = np.random.default_rng(0)
    B, T, I, H = 3, 6, 4, 5
    layer = GRU(I, H, reset="before", dtype=np.float64, rng=rng)
    assert "b_hn" not in layer.units[0][0].params
    x = rng.standard_normal((B, T, I))
    h0 = rng.standard_normal((1, B, H))
    y, hT = layer.forward(x, h0)
    p = layer.units[0][0].params
    y_ref, h_ref = reference_gru(x, h0[0], p["W_x"], p["W_h"], p["b"])
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hT[0], h_ref, rtol=1e-12, atol=1e-12)


def test_the_two_gru_forms_differ():
    rng = np.random.default_rng(1)
    after = GRU(3, 4, reset="after", dtype=np.float64, rng=np.random.default_rng(5))
    before = GRU(3, 4, reset="before", dtype=np.float64, rng=np.random.default_rng(5))
    x = rng.standard_normal((2, 5, 3))
    assert not np.allclose(after.forward(x)[0], before.forward(x)[0])
