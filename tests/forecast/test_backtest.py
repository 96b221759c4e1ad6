"""Metrics, baselines and the rolling-origin backtest, on cases with a known answer."""

import numpy as np
import pandas as pd
import pytest

from rnnkit.evaluation.backtest import backtest
from rnnkit.evaluation.baselines import arima, ets, naive, seasonal_naive
from rnnkit.evaluation.metrics import mae, mase, rmse, smape


def test_metrics_by_hand():
    actual, forecast = np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0])
    assert mae(actual, forecast) == pytest.approx(1.0)
    assert rmse(actual, forecast) == pytest.approx(np.sqrt(5 / 3))
    assert smape(actual, forecast) == pytest.approx(200 / 3 * (1 / 5 + 2 / 6))
    train = np.array([0.0, 2.0, 0.0, 2.0, 0.0])  # seasonal differences at m=2 are 0; at m=1 they are 2
    assert mase(actual, forecast, train, season=1) == pytest.approx(0.5)
    assert smape(np.zeros(2), np.zeros(2)) == 0.0


def test_baselines_on_series_they_should_get_exactly():
    periodic = np.tile([1.0, 5.0, 3.0, 2.0], 10)
    assert np.allclose(seasonal_naive(periodic, 6, 4), periodic[:6])
    assert np.allclose(naive(periodic, 3), [2.0, 2.0, 2.0])
    rng = np.random.default_rng(0)
    line = 3.0 + 0.5 * np.arange(60) + 0.01 * rng.standard_normal(60)  # (an exact line stalls the optimiser)
    assert np.allclose(ets(line, 5, 1), 3.0 + 0.5 * np.arange(60, 65), atol=0.1)
    ar = np.zeros(150)
    for t in range(1, 150):
        ar[t] = 0.8 * ar[t - 1] + 0.1 * rng.standard_normal()
    assert np.allclose(arima(ar, 3, 1), ar[-1] * 0.8 ** np.arange(1, 4), atol=0.1)


class Recorder:
    """A stand-in forecaster that records what it was fitted on and forecasts the last value."""

    seen: list[int] = []

    def __init__(self):
        from rnnkit.models.forecaster import ForecasterConfig

        self.config = ForecasterConfig(levels=())

    def fit(self, y, covariates=None):
        Recorder.seen.append(len(y))
        self.y = y
        return self

    def predict(self, horizon):
        idx = pd.RangeIndex(len(self.y), len(self.y) + horizon)
        return pd.DataFrame({"y": np.full(horizon, self.y["y"].iloc[-1])}, index=idx)


def test_backtest_fits_on_each_training_part_only_and_ranks_methods():
    Recorder.seen = []
    noise = 0.01 * np.random.default_rng(0).standard_normal(60)
    y = pd.Series(np.tile([1.0, 5.0, 3.0, 2.0], 15) + noise, name="y")
    result = backtest(y, horizon=4, folds=3, season=4, forecaster=Recorder, model_name="last",
                      baselines=("naive", "seasonal_naive"))
    assert result.origins == [48, 52, 56] and Recorder.seen == [48, 52, 56]
    table = result.table()
    assert result.winner == "seasonal_naive" and table.loc["seasonal_naive", "MASE"] < 2  # noise only
    assert table.loc["last", "MAE"] == pytest.approx(table.loc["naive", "MAE"])  # same forecast, same folds
    assert "last does not beat seasonal naive" in result.summary()
    with pytest.raises(ValueError, match="too few"):
        backtest(y, horizon=20, folds=3, season=4)
    with pytest.raises(ValueError, match="unknown baselines"):
        backtest(y, horizon=4, baselines=("prophet",))
