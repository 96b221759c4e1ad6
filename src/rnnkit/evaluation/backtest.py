"""Rolling-origin backtest: the forecaster and the classical baselines on the same folds.

Fold ``k`` of ``folds`` cuts the series at origin ``o_k = N - horizon - (folds - 1 - k) * step``: every
method is fitted on ``y[:o_k]`` only (scaling included) and forecasts ``y[o_k : o_k + horizon]``.
The scores are MAE, RMSE, sMAPE and MASE (scaled by the seasonal naive error on ``y[:o_k]``), and
for the forecaster the share of actual values inside each prediction interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..data.series import SeriesError, as_frame
from .baselines import BASELINES
from .metrics import METRICS, mase

DEFAULT_BASELINES = ("naive", "seasonal_naive", "ets", "arima")


@dataclass
class BacktestResult:
    """Per-fold scores (``scores``: a DataFrame with columns method, fold, MAE, RMSE, sMAPE, MASE),
    the forecasts (``forecasts[method][fold]``: ``(horizon, C)`` arrays), the origins and the data."""

    scores: object
    forecasts: dict[str, list[np.ndarray]]
    origins: list[int]
    series: object
    horizon: int
    season: int
    model_name: str | None
    coverage: dict[float, float] = field(default_factory=dict)
    intervals: list[dict] = field(default_factory=list)

    def table(self):
        """Mean score of each method over the folds, best MASE first, with a ``rank`` column."""
        t = self.scores.drop(columns="fold").groupby("method", sort=False).mean()
        t = t.sort_values("MASE")
        t.insert(0, "rank", range(1, len(t) + 1))
        return t

    @property
    def winner(self) -> str:
        return str(self.table().index[0])

    def summary(self) -> str:
        """The table as text and a sentence that says which method wins."""
        table = self.table()
        lines = [table.to_string(float_format=lambda v: f"{v:.4g}")]
        lines.append(f"best by MASE: {self.winner}")
        if self.model_name is not None and "seasonal_naive" in table.index:
            ours, snaive = table.loc[self.model_name, "MASE"], table.loc["seasonal_naive", "MASE"]
            verdict = "beats" if ours < snaive else "does not beat"
            lines.append(f"{self.model_name} {verdict} seasonal naive on MASE ({ours:.3f} vs {snaive:.3f})")
        if self.coverage:
            lines.append("interval coverage: " + ", ".join(f"{lv:g}%: {c:.0%}" for lv, c in self.coverage.items()))
        return "\n".join(lines)


def backtest(y, *, horizon: int, folds: int = 3, step: int | None = None, season: int = 1,
             forecaster: Callable[[], object] | None = None, model_name: str = "rnn",
             baselines=DEFAULT_BASELINES, refit: bool = True, covariates=None,
             interpolate: bool = False) -> BacktestResult:
    """Rolling-origin evaluation of ``forecaster`` (a function returning a fresh, unfitted
    :class:`~rnnkit.models.forecaster.Forecaster`; None: baselines only) and ``baselines`` on ``y``.

    ``step``: steps between origins (default ``horizon``: test windows that tile the end of the
    series). ``refit=False`` fits the forecaster once, on the first fold's training part, and then only
    moves its context forward (faster; still nothing after an origin is seen).
    """
    import pandas as pd

    if not (isinstance(horizon, (int, np.integer)) and horizon >= 1):
        raise ValueError(f"horizon must be an integer >= 1 (the number of steps to forecast), got {horizon!r}")
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baselines {unknown}; choose from {sorted(BASELINES)}")
    frame = as_frame(y, interpolate=interpolate)
    step = horizon if step is None else step
    N = len(frame)
    origins = [N - horizon - (folds - 1 - k) * step for k in range(folds)]
    if origins[0] < max(2, season + 1):
        raise SeriesError(f"{N} steps are too few for {folds} folds of horizon {horizon} every {step} steps "
                          f"(the first origin would be {origins[0]}); use fewer folds or a shorter horizon")
    values = frame.to_numpy()
    rows, forecasts, coverage_hits, intervals = [], {}, {}, []
    fitted = None
    for k, o in enumerate(origins):
        train, actual = frame.iloc[:o], values[o : o + horizon]
        preds = {}
        if forecaster is not None:
            cov = covariates
            if refit or fitted is None:
                fitted = forecaster()
                cov_train = None if cov is None else as_frame(cov).iloc[: o + horizon]
                fitted.fit(train, covariates=cov_train)
                out = fitted.predict(horizon)
            else:
                out = fitted.predict(horizon, series=train,
                                     covariates=None if cov is None else as_frame(cov).iloc[: o + horizon])
            preds[model_name] = out[list(frame.columns)].to_numpy()
            bounds = {}
            for level in fitted.config.levels:
                tag = f"{level:g}"
                lo_cols = [f"{c}_lower_{tag}" for c in frame.columns]
                if all(c in out.columns for c in lo_cols):
                    lo = out[lo_cols].to_numpy()
                    hi = out[[f"{c}_upper_{tag}" for c in frame.columns]].to_numpy()
                    bounds[level] = (lo, hi)
                    inside = (actual >= lo) & (actual <= hi)
                    coverage_hits.setdefault(level, []).append(inside)
            intervals.append(bounds)
        for name in baselines:
            fn = BASELINES[name]
            preds[name] = np.stack([fn(train.iloc[:, c].to_numpy(), horizon, season)
                                    for c in range(frame.shape[1])], axis=1)
        for name, pred in preds.items():
            forecasts.setdefault(name, []).append(pred)
            row = {"method": name, "fold": k}
            row.update({m: fn(actual, pred) for m, fn in METRICS.items()})
            row["MASE"] = mase(actual, pred, train.to_numpy(), season)
            rows.append(row)
    coverage = {lv: float(np.mean(np.concatenate(h))) for lv, h in coverage_hits.items()}
    return BacktestResult(scores=pd.DataFrame(rows), forecasts=forecasts, origins=origins, series=frame,
                          horizon=horizon, season=season, model_name=model_name if forecaster else None,
                          coverage=coverage, intervals=intervals)
