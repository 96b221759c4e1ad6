"""Streaming forecasts: a fitted forecaster fed new observations as they arrive, for many series at once.

Shape legend: ``S`` streams stepped, ``n`` new observations per stream in one call, ``C`` target
channels, ``K`` covariates, ``h`` the streaming horizon, ``m`` covariate steps after the observations
(``h`` for the recursive strategy; the model's whole horizon for the direct one, whose head reads all
of it), ``P`` outputs per value (1 point head, 2 Gaussian head).

What it computes, exactly. Each stream keeps only the recurrent state of the forecaster's network
(``h``, and ``c`` for LSTM, ``(num_layers, H)`` per stream); an observation costs one step of the
stack, whatever came before — the past is never recomputed. The state starts at zero, so after
observations ``y_1 .. y_t`` of a stream the network has read exactly what one whole-sequence forward
over ``y_1 .. y_t`` from a zero state reads, and its raw output ``out`` equals that forward's output
at position ``t`` up to float round-off:

* *recursive*: ``out_t = head(core(x)_t)`` with ``x_t = [z_t, u_{t+1}]`` — the distribution of
  ``z_{t+1}``, i.e. ``ForecastNet.forward_steps(x)[0][:, t]``. The ``h``-step forecast is then rolled
  out from the carried state as ``predict()`` does (means fed back; for a Gaussian head, intervals
  from ``n_samples`` sample paths): ``h`` further steps per observation, again independent of the
  history's length. For a ``training="stateful"`` model this is exactly ``predict()``'s forecast
  after the same history (``predict`` also warms up over the whole history from a zero state).
* *direct*: ``out_t = head([h_t, u_{t+1..t+h}])`` with ``h_t`` the top layer's state after reading
  ``x_i = [z_i, u_i]`` for ``i <= t``; intervals from the normal quantiles.

``predict()`` of a ``training="windows"`` model instead restarts from a zero state ``lookback`` steps
back, so the two agree only on a stream exactly ``lookback`` long; such a model was trained on
windows of ``lookback + horizon`` steps, and a state carried over far longer streams is outside
what it saw — prefer ``training="stateful"`` for models meant to stream.

``normalize="window"`` is refused: it subtracts the mean of the last ``lookback`` observations from
every input of the window, so each new observation changes every input the state was built from, and
no state update can be exact. Such a model must recompute its window per forecast: call
``Forecaster.predict(series=...)`` (``O(lookback)`` per call), or refit with ``normalize="series"``.

Scaling: observations and covariates come in original units and are standardised with the mean
and standard deviation of the fitted series each stream is assigned to (``series=``); forecasts and
bounds go back to original units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.forecast_training import take_rows, direct_forecast, rollout
from .streaming import StreamStates


@dataclass(frozen=True)
class StreamForecast:
    """What :meth:`StreamingForecaster.step` returns, for the ``S`` streams stepped.

    ``point (S, h, C)`` and ``bounds {level: (lower, upper)}`` (each ``(S, h, C)``; empty for a
    point head) in original units; ``out`` the network's raw output after the last observation,
    scaled units: ``(S, 1, C*P)`` recursive (one step ahead), ``(S, horizon, C*P)`` direct.
    """

    point: np.ndarray
    bounds: dict
    out: np.ndarray


class StreamingForecaster(StreamStates):
    """Updated forecasts for ``num_streams`` independent series as each new observation arrives.

    ``forecaster``: a fitted (or loaded) :class:`~rnnkit.models.forecaster.Forecaster` with
    ``normalize="series"`` (see the module docstring for why ``"window"`` is refused). ``series``:
    for each stream, the name or index of the fitted series whose scaling it uses (default: stream
    ``s`` uses series ``s`` when as many streams as fitted series are asked, or every stream series 0
    for a one-series model). ``horizon``: steps forecast after each update (default: the model's;
    a direct model emits at most its own). ``levels``: interval levels in percent. ``rng``: draws of
    the recursive sample paths (default: ``np.random.default_rng(config.seed)``).
    """

    def __init__(self, forecaster, num_streams: int | None = None, *, series=None, horizon: int | None = None,
                 levels: tuple[float, ...] | None = None, rng: np.random.Generator | None = None) -> None:
        fc = forecaster
        if fc.net is None:
            raise RuntimeError("StreamingForecaster needs a fitted forecaster: call fit() or Forecaster.load() first")
        cfg = fc.config
        if cfg.normalize != "series":
            raise ValueError(
                "StreamingForecaster cannot update a normalize='window' model incrementally: each new observation "
                "moves the window mean subtracted from every input of the window. Use Forecaster.predict(series=...) "
                "(recomputes the last lookback steps per call) or refit with normalize='series'")
        self.horizon = cfg.horizon if horizon is None else horizon
        if not (isinstance(self.horizon, (int, np.integer)) and 1 <= self.horizon):
            raise ValueError(f"horizon must be an integer >= 1, got {self.horizon!r}")
        if cfg.strategy == "direct" and self.horizon > cfg.horizon:
            raise ValueError(f"this direct model emits {cfg.horizon} steps, {self.horizon} were asked")
        self.series_index = self._series_index(fc, num_streams, series)
        super().__init__(num_layers=cfg.num_layers, hidden_size=cfg.hidden_size, num_streams=len(self.series_index),
                         cell_state=cfg.cell == "lstm", dtype=cfg.dtype, what="StreamingForecaster")
        self.fc, self.net = fc, fc.net.eval()
        self.levels = cfg.levels if levels is None else tuple(levels)
        self.rng = rng if rng is not None else np.random.default_rng(cfg.seed)
        self.cov_steps = cfg.horizon if cfg.strategy == "direct" else self.horizon  # m in the legend

    @staticmethod
    def _series_index(fc, num_streams, series) -> np.ndarray:
        names = list(fc.names_)
        if series is None:
            count = len(names) if num_streams is None else num_streams
            if len(names) == 1:
                return np.zeros(count, dtype=np.int64)
            if count != len(names):
                raise ValueError(f"this model was fitted on {len(names)} series {names}; with {count} streams say "
                                 "which series' scaling each stream uses: series=[name or index, ...]")
            return np.arange(count)
        idx = [names.index(s) if s in names else s for s in series]
        for given, i in zip(series, idx):
            if not (isinstance(i, (int, np.integer)) and 0 <= i < len(names)):
                raise ValueError(f"series: {given!r} is neither a fitted series' name ({names}) nor an index in "
                                 f"[0, {len(names)})")
        if num_streams is not None and num_streams != len(idx):
            raise ValueError(f"num_streams={num_streams} but {len(idx)} series were named")
        return np.asarray(idx, dtype=np.int64)

    def _observations(self, y, S: int) -> np.ndarray:
        C = self.net.C
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1 and C == 1:
            y = y[:, None]  # one value per stream
        if y.ndim == 2:
            y = y[:, None]  # one observation per stream
        if y.ndim != 3 or y.shape[0] != S or y.shape[2] != C or y.shape[1] == 0:
            raise ValueError(f"step expected observations of shape ({S}, {C}) or ({S}, n, {C}) (streams, "
                             f"[steps,] channels), got {y.shape}")
        if not np.isfinite(y).all():
            raise ValueError("step got missing or infinite observations; fill them before streaming")
        return y

    def _covariates(self, covariates, S: int, n: int, idx: np.ndarray) -> np.ndarray:
        """Scaled covariates ``(S, n + m, K)``: at the ``n`` observed times, then the ``m`` after."""
        fc, K, m = self.fc, self.net.K, self.cov_steps
        if K == 0:
            if covariates is not None:
                raise ValueError("this model has no covariates; call step without covariates")
            return np.zeros((S, n + m, 0))
        if covariates is None:
            raise ValueError(f"this model reads covariates {fc.cov_columns_}: pass covariates of shape "
                             f"({S}, {n + m}, {K}) (at the new observations, then the {m} steps after)")
        u = np.asarray(covariates, dtype=np.float64)
        if u.shape != (S, n + m, K):
            raise ValueError(f"covariates: expected shape ({S}, {n + m}, {K}) (streams, the {n} observed times and "
                             f"the {m} after, covariates), got {u.shape}")
        return (u - fc.cov_scaler_.mean[idx][:, None]) / fc.cov_scaler_.std[idx][:, None]

    def step(self, y, covariates=None, *, streams=None, rng: np.random.Generator | None = None) -> StreamForecast:
        """Read new observations and return the updated forecasts.

        ``y``: ``(S, C)`` one observation per stream, or ``(S, n, C)`` several in time order (``(S,)``
        for one channel), original units. ``covariates`` (models with covariates only): ``(S, n + m,
        K)``, original units, at the observed times and the ``m`` steps after. ``streams``: indices of
        the streams these rows belong to (default: all, in order); the others are left untouched.
        ``rng``: for this call's sample paths (default: the streamer's).
        """
        fc, net, cfg = self.fc, self.net, self.fc.config
        rows = np.arange(self.num_streams) if streams is None else np.array([self._check_stream(s) for s in streams])
        if len(np.unique(rows)) != len(rows):
            raise ValueError(f"streams must not repeat, got {list(rows)}")
        S, idx = len(rows), self.series_index[rows]
        yv = self._observations(y, S)
        n, C = yv.shape[1], net.C
        mean, std = fc.scaler_.mean[idx][:, None], fc.scaler_.std[idx][:, None]  # (S, 1, C)
        z = (yv - mean) / std
        u = self._covariates(covariates, S, n, idx)
        state = take_rows(self.state, rows)
        if cfg.strategy == "recursive":  # x_t = [z_t, u_{t+1}] -> z_{t+1}
            out, state = net.forward_steps(np.concatenate([z, u[:, 1 : n + 1]], axis=-1), state)
            out = out[:, -1:]  # (S, 1, C*P)
            mu, bounds = rollout(fc, out[:, 0], state, u[:, n + 1 : n + self.horizon], horizon=self.horizon,
                                 levels=self.levels, rng=rng if rng is not None else self.rng)
        else:  # x_t = [z_t, u_t]; head([h_t, u_{t+1..t+h}])
            x = np.concatenate([z, u[:, :n]], axis=-1).astype(net.dtype)
            y_top, state = net.core.forward(x, state)  # (S, n, H)
            out = net.direct_head(y_top[:, -1], u[:, n:])  # (S, horizon, C*P)
            mu, bounds = direct_forecast(fc, out[:, : self.horizon], levels=self.levels)
        for part, new in zip(self._parts(), state if isinstance(state, tuple) else (state,)):
            part[:, rows] = new
        return StreamForecast(point=mu * std + mean, bounds={lv: (lo * std + mean, hi * std + mean)
                                                             for lv, (lo, hi) in bounds.items()}, out=out)


__all__ = ["StreamingForecaster", "StreamForecast"]
