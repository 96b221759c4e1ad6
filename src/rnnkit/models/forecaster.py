"""A recurrent forecaster with a familiar estimator interface: ``fit``, ``predict``, ``save``/``load``.

    fc = Forecaster(cell="lstm", hidden_size=32, lookback=36, horizon=12)
    fc.fit(y)                       # y: pandas Series/DataFrame or NumPy array, or a list/dict of them
    fc.predict()                    # DataFrame on the future dates: point forecast and interval bounds

One network is trained across every series given (a *global* model). Each series is standardised
with a mean and standard deviation learned on the data passed to ``fit`` (the training part) and the
forecasts are mapped back. Known future covariates (calendar, prices, holidays) are passed as frames
on the same index that extend over the forecast period.

Strategies (``ForecastNet``): ``"recursive"`` predicts one step ahead and feeds its own forecasts back
with the state carried; ``"direct"`` emits the whole horizon at once. Training reads random windows of
``lookback + horizon`` steps, or (``training="stateful"``, recursive only) runs through every series in
order with truncated BPTT — ``bptt`` steps per update, the state carried from window to window as the
language model does — and then forecasts after warming up on the whole history.

Heads: ``"gaussian"`` (mean and standard deviation, trained by likelihood; prediction intervals from
the normal quantiles, or, for a recursive forecast, from ``n_samples`` sample paths drawn step by step
as DeepAR does) or ``"point"`` (mean squared error, no intervals).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from ..config import from_dict
from ..data.series import Scaler, SeriesError, as_frame, future_index
from ..nn import MSE
from .forecast_net import ForecastNet
from .heads import GaussianNLL, interval_quantiles, normal_quantile

CELLS, HEADS, TRAINING, NORMALIZE = ("rnn", "lstm", "gru"), ("gaussian", "point"), ("windows", "stateful"), \
    ("series", "window")


@dataclass(frozen=True)
class ForecasterConfig:
    """Architecture and training of a :class:`Forecaster`.

    ``lookback``: steps of context per training window and per forecast. ``horizon``: steps forecast.
    ``normalize="window"`` also subtracts each window's context mean (a local level, after the
    per-series standardisation) from inputs and targets, so one model serves series at any level.
    ``steps_per_epoch``: cap on the updates per epoch (None: every window once). ``levels``: central
    prediction intervals in percent. ``time_limit``: stop training after this many seconds.
    """

    cell: str = "lstm"
    hidden_size: int = 32
    num_layers: int = 1
    lookback: int = 24
    horizon: int = 12
    strategy: str = "recursive"
    head: str = "gaussian"
    training: str = "windows"
    bptt: int = 32
    normalize: str = "series"
    epochs: int = 50
    batch_size: int = 32
    steps_per_epoch: int | None = None
    lr: float = 3e-3
    lr_final: float = 0.1
    clip: float | None = 1.0
    weight_decay: float = 0.0
    dropout: float = 0.0
    forget_bias: float | None = 1.0
    sigma_min: float = 1e-3
    n_samples: int = 200
    levels: tuple[float, ...] = (80.0, 95.0)
    time_limit: float | None = None
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(float(v) for v in self.levels))
        for name, allowed in (("cell", CELLS), ("head", HEADS), ("training", TRAINING), ("normalize", NORMALIZE),
                              ("strategy", ("recursive", "direct")), ("dtype", ("float32", "float64"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not (isinstance(self.horizon, (int, np.integer)) and self.horizon >= 1):
            raise ValueError(f"horizon must be an integer >= 1 (the number of steps to forecast), got {self.horizon!r}")
        for name in ("hidden_size", "num_layers", "lookback", "bptt", "epochs", "batch_size", "n_samples"):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and value >= 1):
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.training == "stateful" and (self.strategy != "recursive" or self.normalize != "series"):
            raise ValueError("training='stateful' runs one-step-ahead through whole series: it needs "
                             "strategy='recursive' and normalize='series'")
        if self.cell != "lstm" and self.forget_bias is not None:
            object.__setattr__(self, "forget_bias", None)
        interval_quantiles(self.levels)

    @property
    def outputs_per_value(self) -> int:
        return 2 if self.head == "gaussian" else 1

    def to_json(self) -> dict:
        d = asdict(self)
        d["levels"] = list(self.levels)
        return d

    @classmethod
    def from_json(cls, data: dict) -> ForecasterConfig:
        return from_dict(cls, data, what="forecaster settings")


def _collection(data, what: str):
    """``(names, items, kind)`` for one series, a list of series or a dict name -> series."""
    if isinstance(data, dict):
        return [str(k) for k in data], list(data.values()), "dict"
    if isinstance(data, list):
        return [f"series {i}" for i in range(len(data))], list(data), "list"
    return [what], [data], "single"


class Forecaster:
    """A global recurrent forecaster (see the module docstring). Settings: :class:`ForecasterConfig`
    fields, given as a config and/or keywords (keywords win). ``rng`` drives initialisation, window
    sampling and sample paths (default: ``np.random.default_rng(config.seed)``)."""

    def __init__(self, config: ForecasterConfig | None = None, *, rng: np.random.Generator | None = None,
                 **settings) -> None:
        self.config = replace(config or ForecasterConfig(), **settings)
        self.rng = rng if rng is not None else np.random.default_rng(self.config.seed)
        self.net: ForecastNet | None = None
        self.history_: list[float] = []

    # ---------------------------------------------------------------------------------------- fit
    def fit(self, y, *, covariates=None, interpolate: bool = False, verbose: bool = False) -> Forecaster:
        """Train on ``y`` — a series or a list/dict of series (one global model) — with optional
        known covariates in the same container, each a frame on (at least) its series' index.
        Returns ``self``."""
        cfg = self.config
        names, items, kind = _collection(y, "series")
        frames = [as_frame(v, interpolate=interpolate, name=n) for n, v in zip(names, items)]
        columns = list(frames[0].columns)
        for n, f in zip(names, frames):
            if f.shape[1] != len(columns):
                raise SeriesError(f"{n} has {f.shape[1]} columns {list(f.columns)}, the first series {len(columns)} "
                                  f"{columns}; a global model needs the same number of channels in every series")
            if len(f) < cfg.lookback + cfg.horizon:
                raise SeriesError(
                    f"{n} has {len(f)} steps, fewer than lookback + horizon = {cfg.lookback} + {cfg.horizon} = "
                    f"{cfg.lookback + cfg.horizon} that one training window needs; lower lookback or horizon, "
                    "or give a longer series")
        covs = self._check_covariates(covariates, names, frames, kind, interpolate)
        self.names_, self.kind_, self.columns_, self.series_, self.covariates_ = names, kind, columns, frames, covs
        self.cov_columns_ = list(covs[0].columns) if covs is not None else []
        self.scaler_ = Scaler.fit([f.to_numpy() for f in frames])
        self.cov_scaler_ = Scaler.fit([c.reindex(f.index).to_numpy() for c, f in zip(covs, frames)]) if covs else None
        Z = [self.scaler_.transform(f.to_numpy(), s) for s, f in enumerate(frames)]
        U = [self._scaled_covariates(s, f.index) for s, f in enumerate(frames)]
        self.net = ForecastNet(cell=cfg.cell, n_targets=len(columns), n_covariates=len(self.cov_columns_),
                               hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, strategy=cfg.strategy,
                               horizon=cfg.horizon, outputs_per_value=cfg.outputs_per_value, dropout=cfg.dropout,
                               forget_bias=cfg.forget_bias, dtype=np.dtype(cfg.dtype), rng=self.rng)
        from .forecast_training import train

        self.history_, self.fit_seconds_ = train(self, Z, U, verbose=verbose)
        return self

    def _check_covariates(self, covariates, names, frames, kind, interpolate):
        if covariates is None:
            return None
        c_names, c_items, c_kind = _collection(covariates, "covariates")
        if c_kind != kind or len(c_items) != len(frames):
            raise SeriesError(f"covariates must come in the same container as the series ({len(frames)} "
                              f"{kind}), got {len(c_items)} ({c_kind})")
        covs = [as_frame(c, interpolate=interpolate, name=f"covariates of {n}") for n, c in zip(names, c_items)]
        for n, c, f in zip(names, covs, frames):
            missing = f.index.difference(c.index)
            if len(missing):
                raise SeriesError(f"covariates of {n} miss {len(missing)} of the series' time stamps "
                                  f"(first {missing[0]}); they must cover the whole series")
            if list(c.columns) != list(covs[0].columns):
                raise SeriesError(f"covariates of {n} have columns {list(c.columns)}, the first series' have "
                                  f"{list(covs[0].columns)}")
        return covs

    def _scaled_covariates(self, s: int, index, frame=None) -> np.ndarray:
        """Covariates of series ``s`` on ``index``, scaled, ``(len(index), K)`` (``K = 0`` without)."""
        if self.cov_scaler_ is None:
            return np.zeros((len(index), 0))
        frame = frame if frame is not None else self.covariates_[s]
        values = frame.reindex(index)
        gaps = values.isna().any(axis=1).to_numpy()
        if gaps.any():
            raise SeriesError(
                f"{self.names_[s] if s < len(self.names_) else 'series'}: the covariates do not cover "
                f"{int(gaps.sum())} time stamps needed (first {index[gaps][0]}); give known future covariates "
                "over the forecast period with predict(covariates=...)")
        return self.cov_scaler_.transform(values.to_numpy(), s)

    # ------------------------------------------------------------------------------------ predict
    def predict(self, horizon: int | None = None, *, series=None, covariates=None,
                levels: tuple[float, ...] | None = None, rng: np.random.Generator | None = None):
        """Forecast ``horizon`` steps (default: the config's) after each series' end.

        ``series``: forecast after these histories instead of the fitted ones (same container and count
        as in ``fit`` to reuse their scaling, e.g. in a backtest; otherwise each is scaled on its own
        history). ``covariates``: known future covariates covering the forecast period. Returns a
        ``DataFrame`` indexed by the future time stamps — per channel ``NAME`` (the point forecast)
        and ``NAME_lower_L`` / ``NAME_upper_L`` for each interval level ``L`` (Gaussian head) — or a
        list/dict of them, as the series were given.
        """
        if self.net is None:
            raise RuntimeError("predict() needs a fitted forecaster: call fit() or Forecaster.load() first")
        cfg = self.config
        horizon = cfg.horizon if horizon is None else horizon
        if not (isinstance(horizon, (int, np.integer)) and horizon >= 1):
            raise ValueError(f"horizon must be an integer >= 1 (the number of steps to forecast), got {horizon!r}")
        if cfg.strategy == "direct" and horizon > cfg.horizon:
            raise ValueError(f"this direct model emits {cfg.horizon} steps, {horizon} were asked; refit with "
                             f"horizon={horizon} or use strategy='recursive'")
        levels = cfg.levels if levels is None else tuple(levels)
        rng = rng if rng is not None else self.rng
        names, frames, kind, scaler, cov_frames = self._histories(series, covariates)
        need = cfg.lookback if cfg.training == "windows" else 1
        Z, U = [], []
        for s, (n, f) in enumerate(zip(names, frames)):
            if len(f) < need:
                raise SeriesError(f"{n} has {len(f)} steps; a forecast reads the last lookback = {need}")
            ctx = f.iloc[-cfg.lookback:] if cfg.training == "windows" else f
            Z.append(scaler.transform(ctx.to_numpy(), s))
            steps = cfg.horizon if cfg.strategy == "direct" else horizon  # the direct head reads all its steps
            index = ctx.index.append(future_index(f.index, steps))
            U.append(self._scaled_covariates(s, index, cov_frames[s] if cov_frames else None))
        from .forecast_training import forecast_batch

        outs = [None] * len(frames)
        groups: dict[int, list[int]] = {}
        for s, z in enumerate(Z):
            groups.setdefault(len(z), []).append(s)
        for members in groups.values():  # series with contexts of one length run as one batch
            mean, lo_hi = forecast_batch(self, np.stack([Z[s] for s in members]), np.stack([U[s] for s in members]),
                                         horizon=horizon, levels=levels, rng=rng)
            for j, s in enumerate(members):
                bounds = {lv: (lo[j], hi[j]) for lv, (lo, hi) in lo_hi.items()}
                outs[s] = self._frame(frames[s], scaler, s, mean[j], bounds, horizon)
        if kind == "single":
            return outs[0]
        return dict(zip(names, outs)) if kind == "dict" else outs

    def _histories(self, series, covariates):
        if series is None:
            if covariates is not None:
                _, cov_items, _ = _collection(covariates, "covariates")
                cov_frames = [as_frame(c, name="covariates") for c in cov_items]
                cov_frames = [c.combine_first(old) for c, old in zip(cov_frames, self.covariates_)]
            else:
                cov_frames = self.covariates_
            return self.names_, self.series_, self.kind_, self.scaler_, cov_frames
        names, items, kind = _collection(series, "series")
        frames = [as_frame(v, name=n) for n, v in zip(names, items)]
        for n, f in zip(names, frames):
            if f.shape[1] != len(self.columns_):
                raise SeriesError(f"{n} has {f.shape[1]} columns {list(f.columns)}, but the model was fitted on "
                                  f"{len(self.columns_)} ({self.columns_})")
        same = len(frames) == len(self.series_)
        scaler = self.scaler_ if same else Scaler.fit([f.to_numpy() for f in frames])
        cov_frames = None
        if self.cov_columns_:
            if covariates is None and same:
                cov_frames = self.covariates_
            elif covariates is None:
                raise SeriesError("this model uses covariates: pass covariates=... for the new series")
            else:
                cov_frames = [as_frame(c, name="covariates") for c in _collection(covariates, "covariates")[1]]
        return names, frames, kind, scaler, cov_frames

    def _frame(self, history, scaler: Scaler, s: int, mean: np.ndarray, bounds: dict, horizon: int):
        import pandas as pd

        index = future_index(history.index, horizon)
        data = {}
        point = scaler.inverse(mean, s)  # (h, C)
        columns = list(history.columns)
        for c, col in enumerate(columns):
            data[col] = point[:, c]
        for level, (lo, hi) in bounds.items():
            lo, hi = scaler.inverse(lo, s), scaler.inverse(hi, s)
            tag = f"{level:g}"
            for c, col in enumerate(columns):
                data[f"{col}_lower_{tag}"] = lo[:, c]
                data[f"{col}_upper_{tag}"] = hi[:, c]
        return pd.DataFrame(data, index=index)

    # ------------------------------------------------------------------------------------ save/load
    def save(self, path, *, metrics: dict | None = None):
        """Write the fitted forecaster (weights, settings, scaling, histories) to one safe checkpoint
        file (safetensors + JSON, nothing pickled) and its model card beside it (``NAME.card.json``);
        ``metrics``: JSON-able scores to record. Returns the path."""
        from ..io.forecaster_files import save_forecaster

        return save_forecaster(path, self, metrics=metrics)

    @classmethod
    def load(cls, path) -> Forecaster:
        """A forecaster saved by :meth:`save`, ready to ``predict``."""
        from ..io.forecaster_files import load_forecaster

        return load_forecaster(path)


def normal_bounds(mu: np.ndarray, sigma: np.ndarray, levels) -> dict:
    """Central intervals of ``N(mu, sigma^2)`` at ``levels`` percent: ``{level: (lower, upper)}``."""
    return {lv: (mu + normal_quantile(lo) * sigma, mu + normal_quantile(hi) * sigma)
            for lv, lo, hi in interval_quantiles(levels)}


def make_loss(config: ForecasterConfig):
    return GaussianNLL(sigma_min=config.sigma_min) if config.head == "gaussian" else MSE()


__all__ = ["Forecaster", "ForecasterConfig", "normal_bounds", "make_loss"]
