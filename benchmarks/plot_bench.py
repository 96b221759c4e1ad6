"""A PNG of ``bench.py`` runs: each row's ratio rnnkit/torch (and, for the streaming rows, rnnkit's time
over onnxruntime's on two threads), one dot per run, beside the goal of issue #3. With ``--table``, the
same runs as a Markdown table instead: per row, the goal, the least, median and largest ratio over the
runs, and in how many of them the goal was met, the misses named by run.

    python benchmarks/plot_bench.py                                   # results/latest.json
    python benchmarks/plot_bench.py results/bench-run-05*.json --out results/ratios.png
    python benchmarks/plot_bench.py results/bench-run-07*.json --table

``bench.py`` draws its own run this way next to ``latest.md`` (``latest.png``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# issue #3's goals, as ratios of times (rnnkit / other; the LM's 1.2x tokens/s is 1 / 1.2)
LSTM_GOAL, OTHER_GOAL, LM_GOAL, ORT_GOAL = 1.0, 0.8, 1 / 1.2, 1.0


def goal(name: str) -> float | None:
    """The goal for a row's ratio to torch, or None for the textbook reference rows."""
    if name.startswith("textbook"):
        return None
    if name.startswith("LM train step"):
        return LM_GOAL
    if name.startswith("LSTM") and " B1 " not in name:
        return LSTM_GOAL
    return OTHER_GOAL  # RNN, GRU and every batch-1 row


def series(runs: list[dict]) -> list[tuple[str, list[float], float | None]]:
    """``(label, ratios over the runs, goal)`` per row, in the runs' order; streaming rows twice."""
    out: dict[str, tuple[list[float], float | None]] = {}
    for run in runs:
        for row in run["rows"]:
            name = row["name"].replace(" fwd+bwd", "").replace(" (inference)", "")
            out.setdefault(name + " / torch", ([], goal(row["name"])))[0].append(row["ratio"])
            times = row["median_s"]
            if "onnxruntime(2t)" in times:
                ratio = times["rnnkit"] / times["onnxruntime(2t)"]
                out.setdefault(name + " / onnxruntime 2t", ([], ORT_GOAL))[0].append(ratio)
    return [(label, ratios, g) for label, (ratios, g) in out.items()]


def plot(runs: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = series(runs)
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.6))
    for y, (label, ratios, g) in enumerate(rows):
        met = [g is None or r <= g for r in ratios]
        ax.scatter(ratios, [y] * len(ratios), s=22, zorder=3,
                   c=["tab:green" if ok else "tab:red" for ok in met] if g is not None else "tab:gray")
        if g is not None:
            ax.plot([g, g], [y - 0.4, y + 0.4], color="black", lw=1.5, zorder=2)
    ax.set_yticks(range(len(rows)), [label for label, _, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="gray", lw=0.6, ls=":")
    ax.set_xlabel("time ratio, log scale (below 1: rnnkit faster)\nblack tick: the goal; dots: runs "
                  "(green: met, red: missed, gray: reference rows)", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", which="both", lw=0.3, alpha=0.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(runs: list[dict], names: list[str]) -> str:
    """A Markdown table of ``series(runs)``: one line per row; ``names`` label the runs (one each), and
    each miss is given with its run's name. A ratio is met when it is at most the goal."""
    lines = ["| row | goal | runs | least | median | largest | goal met in | misses |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for label, ratios, g in series(runs):
        ordered = sorted(ratios)
        n = len(ordered)
        median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
        if g is None:
            met, misses, goal_text = "", "", "(reference)"
        else:
            missed = [(name, r) for name, r in zip(names, ratios) if r > g]
            met = f"{n - len(missed)}/{n}"
            misses = ", ".join(f"{r:.2f} ({name})" for name, r in missed)
            goal_text = f"≤ {g:.2f}"
        lines.append(f"| {label} | {goal_text} | {n} | {ordered[0]:.2f} | {median:.2f} | {ordered[-1]:.2f} | {met} | "
                     f"{misses} |")
    return "\n".join(lines)


def title_for(runs: list[dict]) -> str:
    env = runs[-1]["env"]
    dates = sorted(run["env"]["date"] for run in runs)
    when = dates[0] if len(dates) == 1 else f"{dates[0]} .. {dates[-1][-8:]}"
    return (f"rnnkit against torch {env['torch']} and onnxruntime: {len(runs)} run(s) of bench.py, {when}\n"
            f"{env['cpu']}, {env['threads']} threads, {env['blas']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", help="bench.py JSON files (default: results/latest.json)")
    ap.add_argument("--out", default=None, help="PNG to write (default: results/latest.png)")
    ap.add_argument("--table", action="store_true",
                    help="print a Markdown table of the runs (least, median, largest ratio; goal met in n/N) "
                         "instead of drawing")
    args = ap.parse_args()
    files = [Path(f) for f in args.runs] or [HERE / "results" / "latest.json"]
    runs = [json.loads(f.read_text()) for f in files]
    if args.table:
        print(f"{title_for(runs)}\n")
        print(table(runs, [f.parent.name if f.stem == "latest" else f.stem for f in files]))
        return
    out = Path(args.out) if args.out else HERE / "results" / "latest.png"
    plot(runs, out, title_for(runs))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
