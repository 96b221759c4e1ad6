"""Backtests and sweeps fanned out on a Dask LocalCluster give the serial run's table, row for row."""

import numpy as np
import pandas as pd
import pytest

from rnnkit.evaluation import backtest
from rnnkit.evaluation.parallel import backtest_many, summarize, sweep
from rnnkit.models.forecaster import ForecasterConfig

TINY = ForecasterConfig(hidden_size=4, lookback=12, horizon=6, epochs=2, steps_per_epoch=3, batch_size=8,
                        n_samples=20)
BASELINES = ("naive", "seasonal_naive")


@pytest.fixture(scope="module")
def series():
    """Six seasonal series of different lengths, levels and noise."""
    rng = np.random.default_rng(3)
    out = {}
    for k in range(6):
        t = np.arange(60 + 7 * k)
        out[f"s{k}"] = 10 * (k + 1) + 3 * np.sin(2 * np.pi * t / 12 + k) + 0.05 * k * t + rng.normal(0, 0.4, t.size)
    return out


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield cluster, client


def test_many_series_on_dask_equal_the_serial_run(series, cluster):
    serial = backtest_many(series, horizon=6, folds=2, season=12, forecaster=TINY, baselines=BASELINES,
                           progress=False)
    assert list(serial.columns[:4]) == ["series", "config", "method", "fold"]
    assert len(serial) == 6 * 2 * 3 and serial["series"].unique().tolist() == list(series)
    one = backtest(series["s4"], horizon=6, folds=2, season=12, forecaster=None, baselines=BASELINES).scores
    mine = serial[(serial.series == "s4") & (serial.method != "rnn")].drop(columns=["series", "config"])
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), one, check_exact=True)
    address = cluster[0].scheduler_address  # a scheduler address, as for a remote cluster
    fanned = backtest_many(series, horizon=6, folds=2, season=12, forecaster=TINY, baselines=BASELINES,
                           dask=address, progress=False)
    pd.testing.assert_frame_equal(fanned, serial, check_exact=True)
    assert summarize(serial).index.get_level_values("method").tolist()[0] == "seasonal_naive"


def test_a_sweep_on_dask_equals_the_serial_sweep(series, cluster):
    grid = {"hidden_size": [3, 5], "lr": [1e-3, 1e-2]}
    few = {k: series[k] for k in ("s0", "s5")}
    serial = sweep(few, grid, base=TINY, horizon=6, folds=1, season=12, progress=False)
    assert len(serial) == 2 * 4 and set(serial["config"]) == {f"hidden_size={h},lr={lr}" for h in (3, 5)
                                                              for lr in (1e-3, 1e-2)}
    assert serial.loc[serial.config == "hidden_size=5,lr=0.01", "hidden_size"].tolist() == [5, 5]
    fanned = sweep(few, grid, base=TINY, horizon=6, folds=1, season=12, dask=cluster[1], progress=False)
    pd.testing.assert_frame_equal(fanned, serial, check_exact=True)
    with pytest.raises(ValueError, match="unknown forecaster settings in the grid"):
        sweep(few, {"hiden_size": [3]}, base=TINY, horizon=6)
