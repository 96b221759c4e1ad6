"""Forecast and backtest figures as PNG (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    _plt().close(fig)
    tmp.replace(path)
    return path


def _draw_forecast(ax, history, forecast, column: str, *, tail: int | None, actual=None) -> None:
    h = history[column] if tail is None else history[column].iloc[-tail:]
    ax.plot(h.index, h.to_numpy(), color="0.25", lw=1.2, label="history")
    bands = sorted({c.rsplit("_", 1)[1] for c in forecast.columns if c.startswith(f"{column}_lower_")},
                   key=float, reverse=True)
    for i, tag in enumerate(bands):
        ax.fill_between(forecast.index, forecast[f"{column}_lower_{tag}"], forecast[f"{column}_upper_{tag}"],
                        color="tab:blue", alpha=0.15 + 0.15 * i, lw=0, label=f"{tag}% interval")
    ax.plot(forecast.index, forecast[column].to_numpy(), color="tab:blue", lw=1.8, label="forecast")
    if actual is not None:
        ax.plot(actual.index, actual[column].to_numpy(), color="tab:red", lw=1.2, ls="--", label="actual")
    ax.set_title(column)
    ax.grid(True, alpha=0.3)


def plot_forecast(history, forecast, path, *, actual=None, tail: int | None = None, title: str = "") -> Path:
    """History (its last ``tail`` steps), the point forecast and its intervals, one panel per channel.

    ``history``, ``actual``: DataFrames of the series; ``forecast``: as ``Forecaster.predict`` returns.
    """
    plt = _plt()
    columns = list(history.columns)
    fig, axes = plt.subplots(len(columns), 1, figsize=(8, 3.2 * len(columns)), dpi=110, squeeze=False)
    for ax, col in zip(axes[:, 0], columns):
        _draw_forecast(ax, history, forecast, col, tail=tail, actual=actual)
    axes[0, 0].legend(loc="upper left", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_backtest(result, path, *, title: str = "") -> Path:
    """Two panels: the series with every method's fold forecasts (first channel), and MASE per fold and
    method as grouped bars (the mean in the legend)."""
    import numpy as np

    plt = _plt()
    frame = result.series
    col = frame.columns[0]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.2), dpi=110, gridspec_kw={"width_ratios": [3, 2]})
    first = max(0, result.origins[0] - 4 * result.horizon)
    ax1.plot(frame.index[first:], frame[col].to_numpy()[first:], color="0.2", lw=1.2, label="actual")
    methods = list(result.forecasts)
    colors = {m: plt.cm.tab10(i) for i, m in enumerate(methods)}
    for m in methods:
        for k, (o, pred) in enumerate(zip(result.origins, result.forecasts[m])):
            idx = frame.index[o : o + result.horizon]
            ax1.plot(idx, pred[: len(idx), 0], color=colors[m], lw=1.4 if m == result.model_name else 0.9,
                     label=m if k == 0 else None)
            if m == result.model_name and k < len(result.intervals) and result.intervals[k]:
                lo, hi = result.intervals[k][max(result.intervals[k])]
                ax1.fill_between(idx, lo[: len(idx), 0], hi[: len(idx), 0], color=colors[m], alpha=0.15, lw=0)
    for o in result.origins:
        ax1.axvline(frame.index[o], color="0.6", lw=0.6, ls=":")
    ax1.set_title(f"{col}: rolling-origin forecasts (horizon {result.horizon})")
    ax1.legend(fontsize=7, loc="upper left")
    ax1.grid(True, alpha=0.3)
    scores = result.scores
    width = 0.8 / len(methods)
    folds = sorted(scores["fold"].unique())
    for i, m in enumerate(methods):
        vals = scores[scores["method"] == m].set_index("fold").loc[folds, "MASE"].to_numpy()
        ax2.bar(np.arange(len(folds)) + i * width, vals, width, color=colors[m],
                label=f"{m} (mean {vals.mean():.2f})")
    ax2.axhline(1.0, color="0.4", lw=0.8, ls="--")
    ax2.set_xticks(np.arange(len(folds)) + 0.4 - width / 2, [f"fold {k + 1}" for k in folds])
    ax2.set_ylabel("MASE")
    ax2.set_title("backtest errors (lower is better)")
    ax2.legend(fontsize=7)
    ax2.grid(True, axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
