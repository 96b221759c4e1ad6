"""Point-forecast errors. ``actual, forecast (h,)`` or ``(h, C)``; each returns one float (the mean
over steps and channels).

    MAE   = mean |y - f|
    RMSE  = sqrt(mean (y - f)^2)
    sMAPE = 200 * mean |y - f| / (|y| + |f|)              (percent; M4's definition)
    MASE  = MAE / mean_t |y_t - y_{t-m}|  over the training part  (Hyndman & Koehler 2006; M4)

MASE below 1 beats the in-sample seasonal naive forecast of period ``m``.
"""

from __future__ import annotations

import numpy as np


def _pair(actual, forecast) -> tuple[np.ndarray, np.ndarray]:
    actual, forecast = np.asarray(actual, np.float64), np.asarray(forecast, np.float64)
    if actual.shape != forecast.shape:
        raise ValueError(f"expected forecast of the actual values' shape {actual.shape}, got {forecast.shape}")
    return actual, forecast


def mae(actual, forecast) -> float:
    actual, forecast = _pair(actual, forecast)
    return float(np.mean(np.abs(actual - forecast)))


def rmse(actual, forecast) -> float:
    actual, forecast = _pair(actual, forecast)
    return float(np.sqrt(np.mean((actual - forecast) ** 2)))


def smape(actual, forecast) -> float:
    actual, forecast = _pair(actual, forecast)
    denom = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(np.abs(actual - forecast), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(200.0 * np.mean(ratio))


def mase_scale(train, season: int) -> np.ndarray:
    """``mean_t |y_t - y_{t-m}|`` over the training part, per channel (``m = 1`` if the series is too
    short for its season)."""
    train = np.asarray(train, np.float64)
    m = season if len(train) > season else 1
    return np.mean(np.abs(train[m:] - train[:-m]), axis=0)


def mase(actual, forecast, train, season: int) -> float:
    actual, forecast = _pair(actual, forecast)
    scale = mase_scale(train, season)
    err = np.abs(actual - forecast).mean(axis=0)
    return float(np.mean(err / np.where(scale > 0, scale, np.nan)))


METRICS = {"MAE": mae, "RMSE": rmse, "sMAPE": smape}
