"""A backtest over the M4 Hourly series: serially in one process vs fanned out on a Dask LocalCluster.

M4's own split: fit on ``Hourly-train.csv``, forecast the 48 hours of ``Hourly-test.csv`` (one fold
at the end of train + test), season 24, scored by MAE, RMSE, sMAPE and MASE. Methods: naive,
seasonal naive and (unless ``--baselines-only``) a deliberately tiny recurrent forecaster per
series; ETS and ARIMA with a 24-hour season take ~10 s per series here and are left out. Run::

    .venv/bin/python benchmarks/dask_backtest.py --m4 /work/shared/data/m4 --workers 2

It checks that the Dask table equals the serial one exactly and prints both wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def load_m4_hourly(folder: Path, limit: int | None):
    import pandas as pd

    train = pd.read_csv(folder / "Hourly-train.csv", index_col=0)
    test = pd.read_csv(folder / "Hourly-test.csv", index_col=0)
    series = {}
    for name in train.index[:limit]:
        y = np.concatenate([train.loc[name].dropna().to_numpy(float), test.loc[name].dropna().to_numpy(float)])
        series[name] = y
    return series


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--m4", required=True, help="folder with Hourly-train.csv and Hourly-test.csv")
    p.add_argument("--limit", type=int, help="first N series only (default: all 414)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--baselines-only", action="store_true")
    p.add_argument("--json", help="write the timings here")
    args = p.parse_args()

    import pandas as pd

    from rnnkit.evaluation.parallel import backtest_many, summarize
    from rnnkit.models.forecaster import ForecasterConfig

    series = load_m4_hourly(Path(args.m4), args.limit)
    tiny = None if args.baselines_only else ForecasterConfig(
        cell="gru", hidden_size=8, lookback=48, horizon=48, strategy="direct", normalize="window", head="point",
        epochs=2, steps_per_epoch=5, batch_size=16)
    options = dict(horizon=48, folds=1, season=24, forecaster=tiny, baselines=("naive", "seasonal_naive"))
    t0 = time.perf_counter()
    serial = backtest_many(series, **options)
    t_serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    fanned = backtest_many(series, **options, dask=True, workers=args.workers)
    t_dask = time.perf_counter() - t0  # includes starting and stopping the LocalCluster
    pd.testing.assert_frame_equal(fanned, serial, check_exact=True)
    print(summarize(serial).to_string(float_format=lambda v: f"{v:.4g}"))
    result = {"series": len(series), "methods": sorted(serial["method"].unique()), "serial_s": t_serial,
              "dask_s": t_dask, "workers": args.workers, "speedup": t_serial / t_dask, "tables_equal": True,
              "machine": {"node": platform.node(), "cores": os.cpu_count(), "load_avg": os.getloadavg()}}
    print(f"{len(series)} series: serial {t_serial:.1f} s, Dask LocalCluster({args.workers} workers) "
          f"{t_dask:.1f} s (x{t_serial / t_dask:.2f}); tables equal")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
