"""Training curves as PNG (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path


def plot_training_curve(records: list[dict], out_png: Path, *, title: str = "") -> Path:
    """Perplexity against step: the training intervals as a line, validation per epoch as dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["train_ppl"]) for r in records if r.get("type") == "interval"]
    valid = [(r["step"], r["valid_ppl"]) for r in records if r.get("type") == "epoch" and r.get("valid_ppl")]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    if train:
        ax.plot(*zip(*train), lw=1.2, label="train (running)")
    if valid:
        ax.plot(*zip(*valid), "o-", lw=1.5, label="validation")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("perplexity")
    ax.grid(True, which="both", alpha=0.3)
    if train or valid:
        ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    out_png = Path(out_png)
    tmp = out_png.with_name(f".{out_png.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out_png)
    return out_png
