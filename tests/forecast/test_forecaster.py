"""Forecaster on series with a known answer: a noiseless sine, an AR(2) process, Gaussian noise for
interval coverage, covariates, several series and channels at once."""

import numpy as np
import pandas as pd
import pytest

from rnnkit.models.forecast_training import _stateful_batches
from rnnkit.models.forecaster import Forecaster

PERIOD = 16


def sine(n, *, amplitude=1.0, offset=0.0, phase=0.0, freq="D", name="y"):
    t = np.arange(n)
    return pd.Series(offset + amplitude * np.sin(2 * np.pi * t / PERIOD + phase),
                     index=pd.date_range("2020-01-01", periods=n, freq=freq), name=name)


FAST = dict(hidden_size=16, lookback=2 * PERIOD, horizon=8, batch_size=32, lr=1e-2)


@pytest.mark.parametrize("strategy, cell, epochs", [("direct", "lstm", 25), ("recursive", "gru", 12)])
def test_noiseless_sine_is_forecast_to_small_error(strategy, cell, epochs):
    y = sine(300)
    train, test = y.iloc[:-8], y.iloc[-8:]
    fc = Forecaster(cell=cell, strategy=strategy, epochs=epochs, rng=np.random.default_rng(0), **FAST).fit(train)
    pred = fc.predict()
    assert pred.index.equals(test.index)  # the future dates, at the series' frequency
    err = np.abs(pred["y"].to_numpy() - test.to_numpy())
    naive = np.abs(train.iloc[-1] - test.to_numpy())
    assert err.max() < 0.1  # a tenth of the amplitude
    assert err.mean() < 0.1 * naive.mean()


def test_stateful_truncated_bptt_learns_the_sine():
    y = sine(400)
    fc = Forecaster(cell="gru", strategy="recursive", training="stateful", bptt=16, batch_size=4, epochs=25,
                    rng=np.random.default_rng(0), **{k: v for k, v in FAST.items() if k != "batch_size"})
    pred = fc.fit(y.iloc[:-8]).predict()
    assert np.abs(pred["y"].to_numpy() - y.iloc[-8:].to_numpy()).max() < 0.15


def test_stateful_batches_read_every_target_once_and_never_across_series():
    Z = [np.arange(10.0)[:, None], 100 + np.arange(7.0)[:, None]]
    U = [np.zeros((10, 0)), np.zeros((7, 0))]
    seen = []
    for x, target, mask, resets in _stateful_batches(Z, U, batch_size=2, bptt=3):
        pairs = np.stack([x[..., 0], target[..., 0]], axis=-1)[mask[..., 0]]
        assert (pairs[:, 1] == pairs[:, 0] + 1).all()  # the target is the next value of the same series
        assert (resets == np.isin(x[..., 0], [0.0, 100.0])).all()  # state zeroed where a series starts
        seen.extend(pairs[:, 1])
    # 17 values cut into 2 streams of 8: [0..7] and [8, 9, 100..105] (106 dropped). A stream's first
    # value (0, 8) is never a target, and 100 is masked: its input would be the other series' 9.
    expected = set(range(1, 8)) | {9.0, 101, 102, 103, 104, 105}
    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen))


def ar2(n, rng, *, phi=(1.6, -0.8), sigma=0.1):
    y = np.zeros(n)
    for t in range(2, n):
        y[t] = phi[0] * y[t - 1] + phi[1] * y[t - 2] + sigma * rng.standard_normal()
    return y


def test_ar2_forecast_follows_the_true_conditional_mean():
    rng = np.random.default_rng(3)
    phi, h = (1.6, -0.8), 6
    y = ar2(1200, rng, phi=phi)
    train = y[:-h]
    oracle = list(train[-2:])
    for _ in range(h):
        oracle.append(phi[0] * oracle[-1] + phi[1] * oracle[-2])
    oracle = np.array(oracle[2:])
    fc = Forecaster(cell="lstm", strategy="direct", hidden_size=16, lookback=12, horizon=h, epochs=8, lr=1e-2,
                    batch_size=32, rng=np.random.default_rng(0)).fit(train)
    pred = fc.predict()["y"].to_numpy()
    assert pred.shape == (h,) and fc.predict().index.tolist() == list(range(len(train), len(train) + h))
    # the model's error against the optimal forecast is small next to the series' own spread
    assert np.abs(pred - oracle).max() < 0.2 * y.std()


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_intervals_cover_at_about_their_nominal_rate(strategy):
    rng = np.random.default_rng(5)
    sigma = 0.3
    y = pd.Series(sine(900).to_numpy() + sigma * rng.standard_normal(900), name="y")
    fc = Forecaster(cell="gru", strategy=strategy, hidden_size=16, lookback=PERIOD, horizon=4, epochs=6,
                    lr=1e-2, n_samples=100, levels=(50, 90), rng=np.random.default_rng(0)).fit(y.iloc[:600])
    hits = {50: [], 90: []}
    for origin in range(600, 896, 4):  # forecasts from many origins of unseen data
        out = fc.predict(series=y.iloc[:origin])
        actual = y.iloc[origin : origin + 4].to_numpy()
        for level in hits:
            hits[level].append((out[f"y_lower_{level}"] <= actual) & (actual <= out[f"y_upper_{level}"]))
    for level, h in hits.items():
        assert abs(np.mean(h) - level / 100) < 0.1, (level, np.mean(h))


def test_one_global_model_forecasts_several_series():
    series = {"small": sine(240, amplitude=1.0, name="small"),
              "large": sine(240, amplitude=10.0, offset=50.0, phase=1.0, name="large")}
    fc = Forecaster(cell="lstm", strategy="direct", epochs=25, rng=np.random.default_rng(0), **FAST)
    fc.fit({k: s.iloc[:-8] for k, s in series.items()})
    pred = fc.predict()
    assert set(pred) == {"small", "large"}
    for name, s in series.items():
        amplitude = 10.0 if name == "large" else 1.0
        assert np.abs(pred[name][name].to_numpy() - s.iloc[-8:].to_numpy()).max() < 0.1 * amplitude


def test_multivariate_series_gets_one_forecast_per_channel():
    idx = pd.date_range("2021-01-01", periods=260, freq="h")
    t = np.arange(260)
    frame = pd.DataFrame({"sin": np.sin(2 * np.pi * t / PERIOD), "cos": np.cos(2 * np.pi * t / PERIOD)}, index=idx)
    fc = Forecaster(cell="lstm", strategy="direct", epochs=25, rng=np.random.default_rng(0), **FAST)
    pred = fc.fit(frame.iloc[:-8]).predict()
    assert list(pred.columns[:2]) == ["sin", "cos"] and "cos_upper_95" in pred.columns
    assert pred.index.equals(idx[-8:])
    assert np.abs(pred[["sin", "cos"]].to_numpy() - frame.iloc[-8:].to_numpy()).max() < 0.15


def test_known_future_covariates_are_used():
    rng = np.random.default_rng(2)
    n = 400
    idx = pd.RangeIndex(n)
    u = pd.DataFrame({"promo": rng.integers(0, 2, n).astype(float)}, index=idx)
    y = pd.Series(np.sin(2 * np.pi * np.arange(n) / PERIOD) + 2.0 * u["promo"].to_numpy(), index=idx, name="y")
    common = dict(cell="lstm", strategy="direct", epochs=12, **FAST)
    with_u = Forecaster(rng=np.random.default_rng(0), **common).fit(y.iloc[:-8], covariates=u)
    without = Forecaster(rng=np.random.default_rng(0), **common).fit(y.iloc[:-8])
    truth = y.iloc[-8:].to_numpy()
    err_u = np.abs(with_u.predict()["y"].to_numpy() - truth).mean()
    err_no = np.abs(without.predict()["y"].to_numpy() - truth).mean()
    assert err_u < 0.25 < err_no  # the promotions (+2) are unpredictable without the covariate
    with pytest.raises(ValueError, match="future covariates"):
        Forecaster(rng=np.random.default_rng(0), **{**common, "epochs": 1}).fit(
            y.iloc[:-8], covariates=u.iloc[:-8]).predict()


def test_scaling_is_learned_on_the_training_part_only():
    y = sine(200, amplitude=3.0, offset=7.0)
    fc = Forecaster(epochs=1, **FAST).fit(y.iloc[:150])
    assert fc.scaler_.mean[0, 0] == pytest.approx(y.iloc[:150].mean())
    assert fc.scaler_.std[0, 0] == pytest.approx(y.iloc[:150].std(ddof=0))
