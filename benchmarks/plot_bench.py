"""A PNG of ``bench.py`` runs: each row's ratio rnnkit/torch (and, for the streaming rows, rnnkit's time
over onnxruntime's on two threads), one dot per run, beside the goal of issue #3. With ``--table``, the
same runs as a Markdown table instead: per row, the goal, the least, median and largest ratio over the
runs, and in how many of them the goal was met, the misses named by run. With ``--spread``, how far the
ratio moved between the runs against what each run's own samples predict.

    python benchmarks/plot_bench.py                                   # results/latest.json
    python benchmarks/plot_bench.py results/bench-run-05*.json --out results/ratios.png
    python benchmarks/plot_bench.py results/bench-run-07*.json --table
    python benchmarks/plot_bench.py results/bench-run-*.json --spread    # run-to-run against within-run spread

``bench.py`` draws its own run this way next to ``latest.md`` (``latest.png``).
"""

from __future__ import annotations

import argparse
import json
import sys
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


def _bench():
    """``bench.py``, for its bootstrap of a ratio."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import bench

    return bench


def _comparisons(runs: list[dict]):
    """``(label, other, row)`` for each row of each run and each contestant its ratio is taken against:
    torch, and onnxruntime on two threads where the row has it (the streaming rows)."""
    for run in runs:
        for row in run["rows"]:
            name = row["name"].replace(" fwd+bwd", "").replace(" (inference)", "")
            for other, label in (("torch", " / torch"), ("onnxruntime(2t)", " / onnxruntime 2t")):
                if other in row["median_s"]:
                    yield name + label, other, row


def series(runs: list[dict]) -> list[tuple[str, list[float], float | None, list]]:
    """``(label, ratios over the runs, goal, intervals)`` per row, in the runs' order; streaming rows
    twice. ``intervals``: each run's 90% interval of the ratio (``bench.ratio_interval``; computed here
    from the samples for runs that predate it), or None for runs without samples."""
    out: dict[str, tuple[list[float], float | None, list]] = {}
    for label, other, row in _comparisons(runs):
        g = goal(row["name"]) if other == "torch" else ORT_GOAL
        ratios, _, bounds = out.setdefault(label, ([], g, []))
        ratios.append(row["median_s"]["rnnkit"] / row["median_s"][other])
        bound = row.get("ratio_interval", {}).get(other)
        samples = row.get("samples_s", {})
        if bound is None and other in samples:
            bound = _bench().ratio_interval(samples["rnnkit"], samples[other])
        bounds.append(bound)
    return [(label, ratios, g, bounds) for label, (ratios, g, bounds) in out.items()]


def spread(runs: list[dict], repeats: int = 21) -> list[tuple[str, int, float, float, float, float]]:
    """Where a run's uncertainty comes from: per row ``(label, runs, between, within, pooled, ahead)``:
    the standard deviation of the log ratio between the runs; the mean over the runs of its bootstrap
    standard deviation within each run (``bench.bootstrap_ratios``); the ratio of the medians of all
    the runs' samples pooled; and the standard deviation a run of ``repeats`` repeats would have, drawn
    from those pooled samples. ``within`` close to ``between`` says that the runs differ as much as
    their samples predict, and no more. Runs without samples are left out."""
    import numpy as np

    bootstrap_ratios = _bench().bootstrap_ratios
    found: dict[str, list[tuple[list, list]]] = {}
    for label, other, row in _comparisons(runs):
        samples = row.get("samples_s", {})
        if other in samples:
            found.setdefault(label, []).append((samples["rnnkit"], samples[other]))
    out = []
    for label, pairs in found.items():
        logs = [np.log(np.median(a) / np.median(b)) for a, b in pairs]
        within = [np.std(np.log(bootstrap_ratios(a, b, draws=1000))) for a, b in pairs]
        a_all, b_all = (np.concatenate([pair[i] for pair in pairs]) for i in (0, 1))
        rng = np.random.default_rng(0)
        ahead = np.log(np.median(rng.choice(a_all, (2000, repeats)), axis=1) /
                       np.median(rng.choice(b_all, (2000, repeats)), axis=1))
        out.append((label, len(pairs), float(np.std(logs)), float(np.mean(within)),
                    float(np.median(a_all) / np.median(b_all)), float(np.std(ahead))))
    return out


def spread_table(runs: list[dict], repeats: int = 21) -> str:
    lines = ["| row | runs | sd of log ratio between runs | mean sd within a run (bootstrap) | ratio of pooled medians | "
             f"sd of a run of {repeats} repeats, drawn from the pool |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, n, between, within, pooled, ahead in spread(runs, repeats):
        lines.append(f"| {label} | {n} | {between:.3f} | {within:.3f} | {pooled:.3f} | {ahead:.3f} |")
    return "\n".join(lines)


def plot(runs: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = series(runs)
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.6))
    for y, (label, ratios, g, bounds) in enumerate(rows):
        met = [g is None or r <= g for r in ratios]
        for bound in bounds:
            if bound is not None:
                ax.plot(bound, [y, y], color="tab:gray", lw=0.8, alpha=0.5, zorder=1)
        ax.scatter(ratios, [y] * len(ratios), s=22, zorder=3,
                   c=["tab:green" if ok else "tab:red" for ok in met] if g is not None else "tab:gray")
        if g is not None:
            ax.plot([g, g], [y - 0.4, y + 0.4], color="black", lw=1.5, zorder=2)
    ax.set_yticks(range(len(rows)), [label for label, *_ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="gray", lw=0.6, ls=":")
    ax.set_xlabel("time ratio, log scale (below 1: rnnkit faster)\nblack tick: the goal; dots: runs "
                  "(green: met, red: missed, gray: reference rows); gray lines: each run's 90% interval", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", which="both", lw=0.3, alpha=0.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(runs: list[dict], names: list[str]) -> str:
    """A Markdown table of ``series(runs)``: one line per row; ``names`` label the runs (one each), and
    each miss is given with its run's name (and its 90% interval where the run has one); the runs'
    intervals together, from the lowest bound to the highest. A ratio is met when it is at most the goal."""
    lines = ["| row | goal | runs | least | median | largest | 90% intervals, lowest-highest | goal met in | misses |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for label, ratios, g, bounds in series(runs):
        ordered = sorted(ratios)
        n = len(ordered)
        median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
        if g is None:
            met, misses, goal_text = "", "", "(reference)"
        else:
            missed = [(name, r, bound) for name, r, bound in zip(names, ratios, bounds) if r > g]
            met = f"{n - len(missed)}/{n}"
            misses = ", ".join(f"{r:.2f} ({name}{'' if bound is None else ', %.2f-%.2f' % tuple(bound)})"
                               for name, r, bound in missed)
            goal_text = f"≤ {g:.2f}"
        known = [bound for bound in bounds if bound is not None]
        span = f"{min(b[0] for b in known):.2f}-{max(b[1] for b in known):.2f}" if known else ""
        lines.append(f"| {label} | {goal_text} | {n} | {ordered[0]:.2f} | {median:.2f} | {ordered[-1]:.2f} | {span} | "
                     f"{met} | {misses} |")
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
    ap.add_argument("--spread", action="store_true",
                    help="print, per row, how much the ratio moved between the runs against what each run's own "
                         "samples predict (bootstrap), and the ratio over all their samples pooled")
    ap.add_argument("--repeats", type=int, default=21,
                    help="with --spread: the repeats per run whose spread to draw from the pooled samples (default 21)")
    args = ap.parse_args()
    files = [Path(f) for f in args.runs] or [HERE / "results" / "latest.json"]
    runs = [json.loads(f.read_text()) for f in files]
    if args.spread:
        print(f"{title_for(runs)}\n")
        print(spread_table(runs, args.repeats))
        return
    if args.table:
        print(f"{title_for(runs)}\n")
        print(table(runs, [f.parent.name if f.stem == "latest" else f.stem for f in files]))
        return
    out = Path(args.out) if args.out else HERE / "results" / "latest.png"
    plot(runs, out, title_for(runs))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
