"""Backtests and hyperparameter sweeps over many series, serially or fanned out on Dask.

Every (series, configuration) pair is one independent task — a rolling-origin :func:`backtest` of
that series — so the work spreads over a ``dask.distributed`` cluster with no communication between
tasks. Each task is deterministic (the forecaster draws from ``config.seed``, the baselines are
deterministic), so the table does not depend on where or in which order the tasks ran: it is the
serial run's table, row for row.

    scores = backtest_many(series, horizon=48, season=24, forecaster=cfg)            # serial
    scores = backtest_many(series, horizon=48, season=24, forecaster=cfg, dask=True)  # LocalCluster
    scores = backtest_many(..., dask="tcp://scheduler:8786")                          # any cluster
    scores = sweep(series, {"hidden_size": [8, 32], "lr": [1e-3, 3e-3]}, base=cfg, horizon=48, dask=True)
    summarize(scores)                                                                 # mean per method

``dask``: ``None``/``False`` runs in this process; ``True`` starts a ``LocalCluster`` of ``workers``
single-threaded worker processes (closed at the end); a string is a scheduler address
(``dask scheduler`` / ``dask worker`` started elsewhere, with rnnkit installed on the workers); a
``distributed.Client`` is used as it is. Progress (tasks done, elapsed, estimate) goes to stderr.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from itertools import product

from ..models.forecaster import Forecaster, ForecasterConfig
from ..training.progress import Progress, bar
from .backtest import DEFAULT_BASELINES, backtest

__all__ = ["backtest_many", "sweep", "summarize"]

KEYS = ["series", "config", "method", "fold"]


def _named(series) -> list[tuple[str, object]]:
    if isinstance(series, Mapping):
        return [(str(k), v) for k, v in series.items()]
    if isinstance(series, Sequence) and not isinstance(series, (str, bytes)):
        return [(f"series {i}", v) for i, v in enumerate(series)]
    raise TypeError(f"expected a dict name -> series or a list of series, got {type(series).__name__}")


def _backtest_task(task: dict):
    """One task, run where Dask puts it: the backtest of one series with one configuration,
    as a DataFrame of per-fold scores keyed by ``series``, ``config``, ``method`` and ``fold``."""
    config = task["config"]
    result = backtest(task["y"], forecaster=(lambda: Forecaster(config)) if config is not None else None,
                      model_name=task["model_name"], **task["options"])
    scores = result.scores
    scores.insert(0, "config", task["config_name"])
    scores.insert(0, "series", task["series"])
    return scores


def _tasks(series, configs: dict[str, ForecasterConfig | None], *, baselines, model_name: str, **options):
    tasks = []
    for (name, y), (config_name, config) in product(_named(series), configs.items()):
        tasks.append({"series": name, "y": y, "config": config, "config_name": config_name,
                      "model_name": model_name, "options": {**options, "baselines": tuple(baselines)}})
    return tasks


def backtest_many(series, *, horizon: int, folds: int = 3, step: int | None = None, season: int = 1,
                  forecaster: ForecasterConfig | None = None, model_name: str = "rnn",
                  baselines: Sequence[str] = DEFAULT_BASELINES, refit: bool = True, dask=None,
                  workers: int = 2, progress: bool = True):
    """Rolling-origin backtest of every series (a dict name -> series, or a list) with ``forecaster``
    (None: baselines only) and ``baselines``; the arguments are :func:`backtest`'s.

    Returns a DataFrame with one row per series, method and fold: ``series``, ``config`` (``"-"``),
    ``method``, ``fold``, MAE, RMSE, sMAPE, MASE, in the order of ``series`` — the same table whether
    it ran serially or on Dask (``dask``: see the module docstring).
    """
    if forecaster is not None and forecaster.horizon != horizon:
        forecaster = replace(forecaster, horizon=horizon)
    tasks = _tasks(series, {"-": forecaster}, baselines=baselines, model_name=model_name, horizon=horizon,
                   folds=folds, step=step, season=season, refit=refit)
    return _concat(run_tasks(_backtest_task, tasks, dask=dask, workers=workers, progress=progress))


def sweep(series, grid: Mapping[str, Sequence], *, base: ForecasterConfig, horizon: int, folds: int = 3,
          step: int | None = None, season: int = 1, baselines: Sequence[str] = (), dask=None, workers: int = 2,
          progress: bool = True):
    """Backtest every combination of ``grid`` (ForecasterConfig field -> values, over ``base``) on
    every series. ``config`` names the combination (``"hidden_size=8,lr=0.001"``); the grid's fields
    are also columns. ``baselines`` (none by default) run with every combination."""
    unknown = sorted(set(grid) - set(ForecasterConfig.__dataclass_fields__))
    if unknown:
        raise ValueError(f"unknown forecaster settings in the grid: {unknown}; use ForecasterConfig's field names")
    configs = {}
    for values in product(*grid.values()):
        settings = dict(zip(grid, values))
        configs[",".join(f"{k}={v}" for k, v in settings.items())] = replace(base, horizon=horizon, **settings)
    tasks = _tasks(series, configs, baselines=baselines, model_name="rnn", horizon=horizon, folds=folds,
                   step=step, season=season, refit=True)
    scores = _concat(run_tasks(_backtest_task, tasks, dask=dask, workers=workers, progress=progress))
    for k, field in enumerate(grid):
        scores.insert(2 + k, field, [getattr(configs[c], field) for c in scores["config"]])
    return scores


def summarize(scores):
    """Mean scores per configuration and method over all series and folds, best MASE first."""
    by = [c for c in scores.columns if c not in ("series", "fold", "MAE", "RMSE", "sMAPE", "MASE")]
    return scores.drop(columns=["series", "fold"]).groupby(by, sort=False).mean().sort_values("MASE")


def _concat(frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def run_tasks(fn, tasks: list, *, dask=None, workers: int = 2, progress: bool = True) -> list:
    """``[fn(t) for t in tasks]``, in this process or on Dask; results in the order of ``tasks``."""
    report = _Report(len(tasks), enabled=progress)
    if not dask:
        results = []
        for task in tasks:
            results.append(fn(task))
            report.done()
        return results
    from distributed import Client, LocalCluster, as_completed

    cluster = client = None
    if isinstance(dask, Client):
        client = dask
    elif dask is True:
        # One thread per worker process: NumPy and statsmodels hold the GIL for much of a fit.
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    elif isinstance(dask, str):
        client = Client(dask)
    else:
        raise TypeError(f"dask must be None, True, a scheduler address or a distributed.Client, got {dask!r}")
    try:
        report.message(f"dask: {len(tasks)} tasks on {len(client.scheduler_info()['workers'])} workers "
                       f"({client.scheduler_info()['address']})")
        futures = client.map(fn, tasks, pure=False)
        for _ in as_completed(futures):
            report.done()
        return client.gather(futures)
    finally:
        if client is not dask:
            client.close()
        if cluster is not None:
            cluster.close()


class _Report:
    """``tasks k/N [####....] elapsed, ~remaining`` on stderr."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total, self.count, self.t0 = total, 0, time.perf_counter()
        self.progress = Progress(stream=sys.stderr, every=max(1, total // 20), enabled=enabled)

    def message(self, text: str) -> None:
        self.progress.message(text)

    def done(self) -> None:
        self.count += 1
        elapsed = time.perf_counter() - self.t0
        left = elapsed / self.count * (self.total - self.count)
        self.progress.update(f"tasks {self.count}/{self.total} {bar(self.count, self.total)} "
                             f"{elapsed:.0f} s, ~{left:.0f} s left")
        if self.count == self.total:
            self.progress.message(f"{self.total} tasks in {elapsed:.1f} s")
