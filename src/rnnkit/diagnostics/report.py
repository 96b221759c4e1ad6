"""One diagnosis of a recurrent model: gradient flow, spectra, activations, gradient norms.

``diagnose_fresh`` builds untrained RNN/LSTM/GRU layers of a given size and measures them on
adding-problem inputs (the data of the long-memory benchmark); ``diagnose_language_model`` measures
a trained language model (e.g. a checkpoint of ``rnnkit train``) on a batch of text. Both return a
JSON-able dict, the same numbers ``rnnkit diagnose`` writes; ``summary_text`` turns it into lines
like ``RNN: gradient falls by 10x every 9 steps``, and ``write_report`` writes JSON, text and PNGs.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from .anatomy import activation_stats, spectrum
from .flow import gradient_flow
from .gradnorm import lm_gradient_norms, task_gradient_norms
from .layers import unstack
from .tasks import CELLS, TaskConfig, TaskModel, adding_batch

TANH_C = "tanh'(c)"
FRESH_LABELS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def diagnose_layers(model, x: np.ndarray, *, max_lag: int | None = None,
                    rng: np.random.Generator) -> list[dict]:
    """Per layer (and direction) of ``model``'s recurrent stack run on ``x (B, T, input_size)``: the
    gradient-flow curve, the spectrum of ``W_h`` and the activation statistics."""
    layers = []
    for view in unstack(model, x):
        curve = gradient_flow(view.layer, view.x, max_lag=max_lag, rng=rng)
        layers.append({"name": view.name, "cell": view.cell, "flow": curve.to_json(),
                       "spectrum": spectrum(view), "activations": activation_stats(view)})
    return layers


def diagnose_fresh(*, cells=CELLS, hidden_size: int = 128, num_layers: int = 1, T: int = 100,
                   batch_size: int = 16, max_lag: int | None = None, init: str = "uniform",
                   forget_bias: float | None = None, norm_steps: int = 50, clip: float = 1.0,
                   seed: int = 0) -> dict:
    """Untrained cells side by side, measured on adding-problem inputs ``(B, T, 2)``.

    Each cell is the ``TaskModel`` that ``train_task`` would start from with ``seed`` (so the
    gradient-norm traces, ``norm_steps`` of adding-problem training with and without clipping at
    ``clip``, start from the very weights whose gradient flow is shown). ``forget_bias`` applies to
    the LSTM only. ``norm_steps=0`` skips the traces.
    """
    for cell in cells:
        if cell not in CELLS:
            raise ValueError(f"cells must be among {CELLS}, got {cell!r}")
    x, _ = adding_batch(batch_size, T, rng=np.random.default_rng(seed + 1), dtype=np.float64)
    models = []
    for cell in cells:
        config = TaskConfig(task="adding", T=T, cell=cell, hidden_size=hidden_size, num_layers=num_layers,
                            init=init, forget_bias=forget_bias if cell == "lstm" else None, seed=seed)
        seeds = np.random.SeedSequence(seed).spawn(3)  # as train_task: the model's stream first
        model = TaskModel(config, rng=np.random.default_rng(seeds[0]))
        entry = {"label": FRESH_LABELS[cell], "cell": cell,
                 "layers": diagnose_layers(model, x, max_lag=max_lag, rng=np.random.default_rng(seed + 2))}
        if norm_steps > 0:
            entry["grad_norms"] = task_gradient_norms(replace(config, batch_size=50), steps=norm_steps, clip=clip)
        models.append(entry)
    settings = dict(hidden_size=hidden_size, num_layers=num_layers, T=T, batch_size=batch_size, init=init,
                    forget_bias=forget_bias, norm_steps=norm_steps, clip=clip, seed=seed,
                    data="adding-problem inputs", grad_norm_task=f"adding problem, T={T}, batch 50, Adam 1e-3")
    report = {"source": "fresh", "settings": settings, "models": models}
    report["summary"] = summary_text(report)
    return report


def diagnose_language_model(model, ids: np.ndarray, *, label: str = "", max_lag: int | None = None,
                            norm_steps: int = 20, clip: float = 1.0, seed: int = 0) -> dict:
    """A language model measured on the token batch ``ids (B, T + 1)``: the flow over its first
    ``T`` tokens, and ``norm_steps`` steps of next-token training (on copies) for the norm traces."""
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.shape[1] < 3:
        raise ValueError(f"expected token ids of shape (batch, time + 1) with time >= 2, got {ids.shape}")
    model.eval()
    x = model.embedding.forward(ids[:, :-1])  # the recurrent stack's input (dropout is off in eval)
    entry = {"label": label or model.config.cell.upper(), "cell": model.config.cell,
             "layers": diagnose_layers(model, x, max_lag=max_lag, rng=np.random.default_rng(seed))}
    if norm_steps > 0:
        entry["grad_norms"] = lm_gradient_norms(model, ids, steps=norm_steps, clip=clip)
    settings = dict(batch_size=int(ids.shape[0]), T=int(ids.shape[1] - 1), norm_steps=norm_steps, clip=clip,
                    seed=seed, model=model.config.to_json())
    report = {"source": "language model", "settings": settings, "models": [entry]}
    report["summary"] = summary_text(report)
    return report


def sample_ids(model, *, batch_size: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``(batch_size, length)`` token ids sampled from the model itself (when no text is given)."""
    V = model.config.vocab_size
    rows = []
    for _ in range(batch_size):
        first = rng.integers(0, V, size=1)
        rows.append(np.concatenate([first, model.generate(first, length - 1, rng=rng)]))
    return np.stack(rows)


def describe_rate(steps: float, horizon: int) -> str:
    """``steps`` per 10x change (``FlowCurve.steps_per_decade``) in words."""
    if not math.isfinite(steps) or abs(steps) > 10 * horizon:
        return f"stays within a factor of 10 over {horizon} steps"
    if steps > 0:
        return f"gradient falls by 10x every {steps:.3g} steps"
    return f"gradient grows by 10x every {-steps:.3g} steps"


def _rate(flow: dict) -> float:
    v = flow["steps_per_decade"]
    return float(v) if v is not None else float("nan")


def summary_text(report: dict) -> str:
    """One line per model (one per layer when stacked), e.g. ``RNN: gradient falls by 10x every
    9 steps (sigma_max(W_h) 0.95, mean tanh' 0.62)``."""
    lines = []
    for m in report["models"]:
        for layer in m["layers"]:
            name = m["label"] + (f" {layer['name']}" if len(m["layers"]) > 1 else "")
            flow = layer["flow"]
            horizon = flow["lags"][-1]
            text = f"{name}: {describe_rate(_rate(flow), horizon)}"
            last = flow["log10_mean"][-1]
            if isinstance(last, float):
                text += f" (x{10 ** last:.2g} after {horizon} steps"
            else:
                text += f" ({last} after {horizon} steps"
            text += f"; {_anatomy_note(layer)})"
            lines.append(text)
    return "\n".join(lines)


def _anatomy_note(layer: dict) -> str:
    s, a = layer["spectrum"], layer["activations"]
    if layer["cell"] == "RNN":
        act = "tanh'" if "tanh'" in a else "relu'"
        return (f"sigma_max(W_h) {s['h']['sigma_max']:.2f}, spectral radius {s['h']['spectral_radius']:.2f}, "
                f"mean {act} {a[act]['mean']:.2f}")
    if layer["cell"] == "LSTM":
        f = a["f"]
        return (f"forget gate mean {f['mean']:.2f}, {100 * f['fraction_near_one']:.0f}% above 0.9; "
                f"tanh'(c) saturated {100 * a[TANH_C]['fraction_saturated']:.0f}%")
    z = a["z"]
    return f"update gate z mean {z['mean']:.2f}, {100 * z['fraction_near_one']:.0f}% above 0.9"


def write_report(report: dict, out_dir: str | Path) -> list[Path]:
    """Write ``report.json``, ``summary.txt`` and the PNG plots into ``out_dir`` (created)."""
    from .plots import plot_activations, plot_flow, plot_grad_norms, plot_spectra

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "summary.txt"]
    paths[0].write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    paths[1].write_text(report["summary"] + "\n", encoding="utf-8")
    paths.append(plot_flow(report, out / "gradient_flow.png"))
    paths.append(plot_spectra(report, out / "spectra.png"))
    paths.append(plot_activations(report, out / "activations.png"))
    if any("grad_norms" in m for m in report["models"]):
        paths.append(plot_grad_norms(report, out / "grad_norms.png"))
    return paths
