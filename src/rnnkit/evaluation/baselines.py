"""Classical baselines, fitted on one channel's history ``y (N,)``; each returns ``(horizon,)``.

* ``naive`` — the last value, repeated;
* ``seasonal_naive`` — the last season, repeated (``naive`` when ``season`` is 1 or too long);
* ``ets`` — statsmodels' Holt-Winters exponential smoothing: additive damped trend or none, additive
  season when the history holds two seasons; the lower AICc wins;
* ``arima`` — statsmodels' (S)ARIMA: ``d`` from an augmented Dickey-Fuller test, ``(p, q)`` in
  ``{0, 1, 2} x {0, 1}``, with or without a ``(0, 1, 1)_m`` season; the lower AIC wins.

statsmodels is imported inside the functions; its convergence warnings are silenced (a baseline that
fails to fit falls back to the seasonal naive forecast and says so in ``FALLBACKS``).
"""

from __future__ import annotations

import warnings

import numpy as np

FALLBACKS: list[str] = []


def naive(y: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    return np.full(horizon, float(y[-1]))


def seasonal_naive(y: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    if season <= 1 or len(y) < season:
        return naive(y, horizon)
    last = y[-season:]
    return np.array([last[k % season] for k in range(horizon)], dtype=np.float64)


def ets(y: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = "add" if season > 1 and len(y) >= 2 * season + 2 else None
    best, best_score = None, np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for trend, damped in ((None, False), ("add", True)):
            try:
                fit = ExponentialSmoothing(y, trend=trend, damped_trend=damped, seasonal=seasonal,
                                           seasonal_periods=season if seasonal else None,
                                           initialization_method="estimated").fit()
            except (ValueError, np.linalg.LinAlgError):
                continue
            score = fit.aicc if np.isfinite(fit.aicc) else fit.sse
            if score < best_score:
                best, best_score = fit, score
    if best is None:
        FALLBACKS.append("ets")
        return seasonal_naive(y, horizon, season)
    return np.asarray(best.forecast(horizon), dtype=np.float64)


def arima(y: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.stattools import adfuller

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = 0 if adfuller(y, autolag="AIC")[1] < 0.05 else 1
        seasons = [(0, 0, 0, 0)] + ([(0, 1, 1, season)] if season > 1 and len(y) >= 3 * season else [])
        best, best_aic = None, np.inf
        for seasonal_order in seasons:
            for p in (0, 1, 2):
                for q in (0, 1):
                    trend = "c" if d == 0 and seasonal_order[1] == 0 else "n"
                    try:
                        fit = ARIMA(y, order=(p, d, q), seasonal_order=seasonal_order, trend=trend).fit()
                    except (ValueError, np.linalg.LinAlgError):
                        continue
                    if np.isfinite(fit.aic) and fit.aic < best_aic:
                        best, best_aic = fit, fit.aic
        if best is None:
            FALLBACKS.append("arima")
            return seasonal_naive(y, horizon, season)
        return np.asarray(best.forecast(horizon), dtype=np.float64)


BASELINES = {"naive": naive, "seasonal_naive": seasonal_naive, "ets": ets, "arima": arima}
