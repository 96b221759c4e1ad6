"""The Gaussian head's likelihood and the forecasting network: analytic gradients against finite
differences in float64."""

import numpy as np
import pytest
from _support import numeric_grad, rel_err

from rnnkit.models.forecast_net import ForecastNet
from rnnkit.models.heads import GaussianNLL, interval_quantiles


def test_gaussian_nll_matches_the_density_and_its_gradient():
    rng = np.random.default_rng(0)
    mu, s, y = (rng.standard_normal((3, 4, 2)) for _ in range(3))
    mask = rng.random((3, 4, 1)) > 0.3
    loss = GaussianNLL(sigma_min=1e-3)
    value = loss.forward(mu, s, y, mask)
    sigma = np.log1p(np.exp(s)) + 1e-3
    density = np.exp(-0.5 * ((y - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    m = np.broadcast_to(mask, mu.shape)
    assert value == pytest.approx(-np.log(density)[m].mean(), rel=1e-12)
    dmu, ds = loss.backward()
    assert rel_err(dmu, numeric_grad(lambda: loss.forward(mu, s, y, mask), mu)) < 1e-7
    assert rel_err(ds, numeric_grad(lambda: loss.forward(mu, s, y, mask), s)) < 1e-7


def test_interval_quantiles_are_central():
    (level, lo, hi), = interval_quantiles((80,))
    assert (level, lo, hi) == (80, pytest.approx(0.1), pytest.approx(0.9))
    with pytest.raises(ValueError, match="percentages"):
        interval_quantiles((120,))


@pytest.mark.parametrize("strategy", ["recursive", "direct"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forecast_net_gradients(strategy, cell):
    rng = np.random.default_rng(1)
    C, K, h, B, T = 2, 1, 3, 2, 5
    net = ForecastNet(cell=cell, n_targets=C, n_covariates=K, hidden_size=4, num_layers=2, strategy=strategy,
                      horizon=h, outputs_per_value=2, dtype=np.float64, rng=rng)
    x = rng.standard_normal((B, T, C + K))
    u = rng.standard_normal((B, h, K))
    loss = GaussianNLL()
    target = rng.standard_normal((B, T if strategy == "recursive" else h, C))

    def run():
        out = net.forward_steps(x)[0] if strategy == "recursive" else net.forward_direct(x, u)
        return loss.forward(out[..., :C], out[..., C:], target)

    net.zero_grad()
    run()
    dmu, ds = loss.backward()
    dout = np.concatenate([dmu, ds], axis=-1)
    net.backward_steps(dout) if strategy == "recursive" else net.backward_direct(dout)
    for name, param, grad in net.named_parameters():
        assert rel_err(grad, numeric_grad(run, param)) < 1e-6, name
