"""Evaluation of forecasts: error metrics, classical baselines, rolling-origin backtests, plots."""

from .backtest import BacktestResult, backtest
from .baselines import BASELINES
from .metrics import mae, mase, rmse, smape

__all__ = ["BacktestResult", "backtest", "BASELINES", "mae", "mase", "rmse", "smape"]
