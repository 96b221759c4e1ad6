"""Streaming forecasts: one observation at a time gives the whole-sequence forward's outputs (float64:
≤1e-12 relative; float32: ≤1e-5), equals predict() for a stateful model, and streams are independent."""

import numpy as np
import pandas as pd
import pytest
from _support import rel_err

from rnnkit.deploy import StreamingForecaster
from rnnkit.models.forecaster import Forecaster, normal_bounds
from rnnkit.models.heads import GaussianNLL

N, H, EXTRA = 40, 3, 12  # fitted length, horizon, steps streamed after the fitted part


def data(n=N + EXTRA + H):
    t = np.arange(n, dtype=np.float64)
    y = {"a": pd.DataFrame({"v": 5 + np.sin(t / 3), "w": np.cos(t / 4)}),
         "b": pd.DataFrame({"v": 50 + 3 * np.sin(t / 5), "w": 2 * np.cos(t / 2)})}
    u = {k: pd.DataFrame({"u": (t % 7) + 10 * i}) for i, k in enumerate(y)}
    return y, u


def fitted(strategy, dtype="float64", **kw):
    y, u = data()
    fc = Forecaster(strategy=strategy, cell=kw.pop("cell", "lstm"), hidden_size=6, num_layers=2, lookback=8,
                    horizon=H, epochs=2, n_samples=16, dtype=dtype, **kw)
    return fc.fit({k: v.iloc[:N] for k, v in y.items()}, covariates={k: v.iloc[:N] for k, v in u.items()}), y, u


@pytest.mark.parametrize("strategy, cell, dtype, tol", [("recursive", "lstm", "float64", 1e-12),
                                                        ("recursive", "gru", "float32", 1e-5),
                                                        ("direct", "lstm", "float64", 1e-12),
                                                        ("direct", "rnn", "float32", 1e-5)])
def test_one_step_at_a_time_equals_whole_sequence(strategy, cell, dtype, tol):
    fc, y, u = fitted(strategy, dtype, cell=cell)
    T = N + EXTRA
    Y = np.stack([y[k].to_numpy()[: T + H] for k in y])  # (2, T + H, C)
    U = np.stack([u[k].to_numpy()[: T + H] for k in u])  # (2, T + H, K)
    Z = (Y - fc.scaler_.mean[:, None]) / fc.scaler_.std[:, None]
    Us = (U - fc.cov_scaler_.mean[:, None]) / fc.cov_scaler_.std[:, None]
    net = fc.net
    if strategy == "recursive":  # the whole stream in one forward: x_t = [z_t, u_{t+1}]
        whole, _ = net.forward_steps(np.concatenate([Z[:, :T], Us[:, 1 : T + 1]], axis=-1))
    else:  # the core over the whole stream, the head at every position
        y_top, _ = net.core.forward(np.concatenate([Z[:, :T], Us[:, :T]], axis=-1).astype(net.dtype))
        whole = np.stack([net.direct_head(y_top[:, t], Us[:, t + 1 : t + 1 + H]) for t in range(T)], axis=1)

    stream = StreamingForecaster(fc, horizon=1 if strategy == "recursive" else H)
    m = stream.cov_steps
    for t in range(T):
        got = stream.step(Y[:, t], U[:, t : t + 1 + m])
        want = whole[:, t]  # (2, C*P) recursive, (2, H, C*P) direct
        assert rel_err(got.out.reshape(want.shape), want) <= tol
        # point and interval bounds in original units: the head's mean and normal quantiles, scaling undone
        mu = want[..., :2].astype(np.float64)
        if strategy == "direct":
            sigma = GaussianNLL(sigma_min=fc.config.sigma_min).sigma(want[..., 2:].astype(np.float64))
            lo, _ = normal_bounds(mu, sigma, (80.0,))[80.0]
            assert rel_err(got.bounds[80.0][0], lo * fc.scaler_.std[:, None] + fc.scaler_.mean[:, None]) <= tol
            assert (got.bounds[95.0][1] > got.bounds[80.0][1]).all()
        mu = mu.reshape(2, -1, 2)
        assert rel_err(got.point, mu * fc.scaler_.std[:, None] + fc.scaler_.mean[:, None]) <= tol


def test_several_observations_per_call_equal_single_steps():
    fc, y, u = fitted("direct")
    Y = np.stack([y[k].to_numpy() for k in y])
    U = np.stack([u[k].to_numpy() for k in u])
    one, few = StreamingForecaster(fc), StreamingForecaster(fc)
    for t in range(10):
        a = one.step(Y[:, t], U[:, t : t + 1 + H])
    b = few.step(Y[:, :10], U[:, : 10 + H])
    assert rel_err(b.point, a.point) <= 1e-12


def test_stateful_model_streams_to_predicts_forecast():
    y, _ = data()
    fc = Forecaster(strategy="recursive", training="stateful", hidden_size=5, lookback=6, horizon=4, epochs=2,
                    bptt=10, batch_size=2, n_samples=30, dtype="float64").fit(y["a"].iloc[:N])
    stream = StreamingForecaster(fc)
    history = fc.series_[0].to_numpy()
    stream.step(history[None, :-1])
    last = stream.step(history[None, -1], rng=np.random.default_rng(7))
    want = fc.predict(rng=np.random.default_rng(7))
    assert rel_err(last.point[0], want[["v", "w"]].to_numpy()) <= 1e-12
    assert rel_err(last.bounds[95.0][0][0], want[["v_lower_95", "w_lower_95"]].to_numpy()) <= 1e-9


def test_save_restore_reset_and_subsets_of_streams():
    fc, y, u = fitted("recursive")
    Y = np.stack([y[k].to_numpy() for k in y])
    U = np.stack([u[k].to_numpy() for k in u])
    stream = StreamingForecaster(fc, horizon=2, rng=np.random.default_rng(0))
    stream.step(Y[:, :5], U[:, : 5 + 2])
    saved = stream.get_state(0)
    first = stream.step(Y[:, 5], U[:, 5:8], rng=np.random.default_rng(1))
    stream.set_state(0, saved)
    again = stream.step(Y[:1, 5], U[:1, 5:8], streams=[0], rng=np.random.default_rng(1))  # stream 1 untouched
    # a batch of one rounds differently from a batch of two: equal to round-off
    np.testing.assert_allclose(again.out[0], first.out[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(again.point[0], first.point[0], rtol=1e-12)
    stream.reset(1)
    fresh = StreamingForecaster(fc, horizon=2)
    np.testing.assert_allclose(stream.step(Y[1:, 0], U[1:, 0:3], streams=[1]).out,
                               fresh.step(Y[:, 0], U[:, 0:3]).out[1:], rtol=1e-12, atol=1e-15)


def test_errors_say_what_was_expected():
    fc, y, u = fitted("recursive")
    stream = StreamingForecaster(fc)
    with pytest.raises(ValueError, match=r"shape \(2, 2\) or \(2, n, 2\)"):
        stream.step(np.zeros((3, 2)), np.zeros((3, 1 + H, 1)))
    with pytest.raises(ValueError, match=r"covariates: expected shape \(2, 4, 1\)"):
        stream.step(np.zeros((2, 2)), np.zeros((2, 2, 1)))
    with pytest.raises(ValueError, match="covariates"):
        stream.step(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="series=\\[name or index"):
        StreamingForecaster(fc, num_streams=3)
    assert StreamingForecaster(fc, series=["b", 0, "a"]).series_index.tolist() == [1, 0, 0]
    with pytest.raises(ValueError, match="stream must be an integer in \\[0, 2\\)"):
        stream.reset(2)
    window = Forecaster(normalize="window", hidden_size=3, lookback=5, horizon=2, epochs=1).fit(np.sin(np.arange(30.0)))
    with pytest.raises(ValueError, match="normalize='window'.*predict\\(series=...\\)"):
        StreamingForecaster(window)
