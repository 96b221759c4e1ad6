"""PNG plots of a diagnosis report (matplotlib, Agg backend: no display needed).

Each function reads only the JSON-able report (``report.diagnose_*``), so plots can be redrawn from
a saved ``report.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .anatomy import HIST_BINS


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.tight_layout()
    fig.savefig(tmp)
    _plt().close(fig)
    tmp.replace(path)
    return path


def _num(values) -> np.ndarray:
    """JSON numbers back to floats (None -> NaN, "-inf"/"inf" -> infinities)."""
    return np.array([np.nan if v is None else float(v) for v in values])


def _layers(report: dict):
    for m in report["models"]:
        for layer in m["layers"]:
            label = m["label"] + (f" {layer['name']}" if len(m["layers"]) > 1 else "")
            yield label, layer


def plot_flow(report: dict, path: Path) -> Path:
    """``||dL_t/dh_{t-k}||`` against the lag: the mean (line) and the 10-90% band over positions."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for label, layer in _layers(report):
        f = layer["flow"]
        lags = np.array(f["lags"])
        line, = ax.plot(lags, _num(f["log10_mean"]), lw=1.6, label=label)
        ax.fill_between(lags, _num(f["log10_q10"]), _num(f["log10_q90"]), color=line.get_color(), alpha=0.15)
    ax.set_xlabel("lag k (steps back)")
    ax.set_ylabel("log10 ||dL_t / dh_{t-k}||")
    ax.set_title("Gradient flow through time (mean; band: 10-90% of positions)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_spectra(report: dict, path: Path) -> Path:
    """Singular values of each gate block of ``W_h``, largest first."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for label, layer in _layers(report):
        for gate, s in layer["spectrum"].items():
            name = label if gate == "h" else f"{label} W_h^{gate}"
            ax.plot(s["singular_values"], lw=1.2, label=f"{name} (rho {s['spectral_radius']:.2f})")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("index")
    ax.set_ylabel("singular value")
    ax.set_title("Singular values of the recurrent weights")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def plot_activations(report: dict, path: Path) -> Path:
    """Histograms of ``tanh'`` and the gates, one panel per layer."""
    plt = _plt()
    layers = list(_layers(report))
    fig, axes = plt.subplots(1, len(layers), figsize=(4.2 * len(layers), 3.6), dpi=110, squeeze=False)
    centers = 0.5 * (HIST_BINS[1:] + HIST_BINS[:-1])
    for ax, (label, layer) in zip(axes[0], layers):
        for name, s in layer["activations"].items():
            counts = np.array(s["histogram"], dtype=np.float64)
            ax.plot(centers, counts / max(counts.sum(), 1), marker=".", lw=1.2, label=f"{name} (mean {s['mean']:.2f})")
        ax.set_title(label)
        ax.set_xlabel("value")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("fraction")
    return _save(fig, path)


def plot_grad_norms(report: dict, path: Path) -> Path:
    """The global gradient norm per step, unclipped (solid) and clipped (dashed: the norm before
    clipping; the applied norm is at most the clip value)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for m in report["models"]:
        g = m.get("grad_norms")
        if not g:
            continue
        line, = ax.plot(np.arange(1, len(g["unclipped"]["norm"]) + 1), g["unclipped"]["norm"], lw=1.2,
                        label=f"{m['label']} unclipped")
        ax.plot(np.arange(1, len(g["clipped"]["norm"]) + 1), g["clipped"]["norm"], lw=1.2, ls="--",
                color=line.get_color(), label=f"{m['label']} clipped at {g['clipped']['clip']:g} (norm before clip)")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("global gradient norm")
    ax.set_title("Gradient norm per step, with and without clipping")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)
