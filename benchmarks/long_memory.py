"""The long-memory benchmark: RNN, LSTM and GRU on the adding problem at several lengths.

Regenerates docs/gradient-flow.md (table, plots) in one command:

    python benchmarks/long_memory.py --out docs                       # run everything, write the page
    python benchmarks/long_memory.py --out docs --workers 9 --time-limit 2400   # the full budget
    python benchmarks/long_memory.py --out docs --from-results benchmarks/results/adding.json   # redraw only

Each run (task, T, cell, seed) trains a fresh 1-layer model of 128 units with Adam 1e-3, batch 50,
clip 1 on fresh batches (the calibration of issue 6) until the running mean of the training MSE over
50 steps is below --threshold, or --max-steps, or --time-limit seconds. Runs are independent
processes (--workers at a time, one BLAS thread each). The raw numbers go to --results (JSON, with
the command, machine and versions); the page is drawn from them.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread per run: runs go in parallel processes instead

import argparse
import json
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rnnkit.diagnostics import TaskConfig, diagnose_fresh, diagnose_layers, train_task, write_report  # noqa: E402
from rnnkit.diagnostics.report import summary_text  # noqa: E402

# Issue 6's calibration (PyTorch, 1x128, Adam 1e-3, batch 50, clip 1, 4 CPU-minutes, one seed):
# steps until the adding-problem MSE fell below 0.01 (None: never within the budget).
CALIBRATION = {
    (100, "gru"): "1,250 steps (53 s)", (100, "lstm"): "4,000 steps (119 s); 3,500 with forget bias 1",
    (100, "rnn"): "still 0.175 at 11,700 steps",
    (200, "gru"): "1,750 steps (132 s)", (200, "lstm"): "7,750 steps (445 s); 5,250 with forget bias 1",
    (200, "rnn"): "still 0.168",
}
EVERY = 10  # curves are stored every EVERY steps


def run_one(config: TaskConfig, flow_batch: int) -> dict:
    """Train one model; keep the curve (every EVERY steps) and the trained model's gradient flow."""
    r = train_task(config)
    out = r.to_json()
    mean = r.running_mean()
    out["curve_step"] = list(range(EVERY, r.steps + 1, EVERY))
    out["curve_loss"] = [float(mean[s - 1]) for s in out["curve_step"]]
    out["curve_grad_norm"] = [float(np.mean(r.grad_norm[s - EVERY : s])) for s in out["curve_step"]]
    del out["loss"], out["grad_norm"], out["clipped_norm"]
    if flow_batch > 0 and config.task == "adding":
        from rnnkit.diagnostics import adding_batch

        x, _ = adding_batch(flow_batch, config.T, rng=np.random.default_rng(config.seed + 7), dtype=np.float64)
        out["trained_layers"] = diagnose_layers(r.model, x, rng=np.random.default_rng(config.seed + 8))
    return out


def machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__}


def run_all(args) -> dict:
    configs = [TaskConfig(task="adding", T=T, cell=cell, seed=seed, max_steps=args.max_steps,
                          time_limit=args.time_limit, stop_below=args.threshold,
                          forget_bias=args.forget_bias if cell == "lstm" else None)
               for T in args.lengths for cell in args.cells for seed in args.seeds]
    started = time.time()
    runs = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(run_one, c, args.flow_batch): c for c in configs}
        for fut in as_completed(futures):
            res = fut.result()
            runs.append(res)
            c = res["config"]
            print(f"T={c['T']:4d} {c['cell']:4s} seed {c['seed']}: {res['stopped']:10s} steps {res['steps']:6d} "
                  f"{res['seconds']:6.0f} s  final MSE {res['final_loss']:.4f}", flush=True)
    runs.sort(key=lambda r: (r["config"]["T"], r["config"]["cell"], r["config"]["seed"]))
    return {"command": " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]), "machine": machine(),
            "wall_seconds": time.time() - started, "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "defaults": asdict(TaskConfig()), "runs": runs}


# ---------------------------------------------------------------- the results page

def _cell_runs(results: dict, T: int, cell: str) -> list[dict]:
    return [r for r in results["runs"] if r["config"]["T"] == T and r["config"]["cell"] == cell]


def _fmt_steps(runs: list[dict]) -> str:
    parts = []
    for r in runs:
        if r["solved_step"] is not None:
            parts.append(f"{r['solved_step']:,} ({r['solved_seconds']:.0f} s)")
        else:
            parts.append(f"not by {r['steps']:,} ({r['stopped'].replace('_', ' ')}, {r['seconds']:.0f} s)")
    return "; ".join(parts)


def table(results: dict) -> str:
    threshold = results["settings"]["threshold"]
    lines = [f"| T | cell | steps to MSE < {threshold} (per seed; time) | final MSE (1000 fresh sequences), "
             "mean [min, max] | baseline | issue's calibration (PyTorch) |",
             "|---|---|---|---|---|---|"]
    Ts = sorted({r["config"]["T"] for r in results["runs"]})
    cells = [c for c in ("rnn", "lstm", "gru") if any(r["config"]["cell"] == c for r in results["runs"])]
    for T in Ts:
        for cell in cells:
            runs = _cell_runs(results, T, cell)
            if not runs:
                continue
            final = np.array([r["final_loss"] for r in runs])
            lines.append(f"| {T} | {cell.upper()} | {_fmt_steps(runs)} | {final.mean():.4f} "
                         f"[{final.min():.4f}, {final.max():.4f}] | {runs[0]['baseline']:.3f} | "
                         f"{CALIBRATION.get((T, cell), '—')} |")
    return "\n".join(lines)


def plot_curves(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Ts = sorted({r["config"]["T"] for r in results["runs"]})
    fig, axes = plt.subplots(1, len(Ts), figsize=(4.6 * len(Ts), 3.8), dpi=110, squeeze=False, sharey=True)
    colors = {"rnn": "tab:blue", "lstm": "tab:orange", "gru": "tab:green"}
    for ax, T in zip(axes[0], Ts):
        for r in results["runs"]:
            c = r["config"]
            if c["T"] != T:
                continue
            ax.plot(r["curve_step"], r["curve_loss"], color=colors[c["cell"]], lw=1.1,
                    ls="-" if c["seed"] == 0 else "--", label=f"{c['cell'].upper()} seed {c['seed']}")
        ax.axhline(1 / 6, color="k", lw=0.8, ls=":", label="baseline 1/6")
        ax.axhline(results["settings"]["threshold"], color="grey", lw=0.8, ls="-.")
        ax.set_yscale("log")
        ax.set_title(f"adding problem, T = {T}")
        ax.set_xlabel("step")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("training MSE (running mean of 50 steps)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def trained_report(results: dict, T: int) -> dict | None:
    """The gradient flow of the models trained at length T (seed 0), in the diagnose report format."""
    models = []
    for r in results["runs"]:
        c = r["config"]
        if c["T"] == T and c["seed"] == min(results["settings"]["seeds"]) and "trained_layers" in r:
            models.append({"label": f"{c['cell'].upper()} trained", "cell": c["cell"], "layers": r["trained_layers"]})
    if not models:
        return None
    report = {"source": "trained", "models": models}
    report["summary"] = summary_text(report)
    return report


def pending(results: dict) -> str:
    """What the table does not settle: cells whose runs ran out of budget before the threshold."""
    lines = []
    Ts = sorted({r["config"]["T"] for r in results["runs"]})
    for T in Ts:
        for cell in ("rnn", "lstm", "gru"):
            runs = _cell_runs(results, T, cell)
            out = [r for r in runs if r["solved_step"] is None]
            if out:
                steps = ", ".join(f"{r['steps']:,}" for r in out)
                lines.append(f"- T = {T}, {cell.upper()}: {len(out)} of {len(runs)} runs ended at the budget "
                             f"({steps} steps) above MSE {results['settings']['threshold']}; final MSE "
                             + ", ".join(f"{r['final_loss']:.3f}" for r in out) + ".")
    missing = sorted({50, 100, 200} - set(Ts))
    if missing:
        lines.append(f"- Lengths not run: {missing}.")
    if not lines:
        return "Every run reached the threshold within its budget."
    return "Not settled by this budget:\n\n" + "\n".join(lines)


def write_page(results: dict, out: Path, fresh: dict, trained_T: int | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    img = out / "img" / "gradient-flow"
    img.mkdir(parents=True, exist_ok=True)
    write_report(fresh, img / "fresh")
    plot_curves(results, img / "adding_curves.png")
    Ts = sorted({r["config"]["T"] for r in results["runs"]})
    trained_T = trained_T if trained_T in Ts else max(Ts)
    trained = trained_report(results, trained_T)
    if trained is not None:
        write_report(trained, img / "trained")
    s, m = results["settings"], results["machine"]
    rel = lambda p: p.relative_to(out).as_posix()  # noqa: E731
    text = PAGE.format(
        command=results["command"], wall=results["wall_seconds"] / 60, machine=m, time_limit=s["time_limit"],
        max_steps=s["max_steps"], threshold=s["threshold"], seeds=", ".join(map(str, s["seeds"])),
        lengths=", ".join(map(str, s["lengths"])), table=table(results), fresh_summary=fresh["summary"],
        fresh_T=fresh["settings"]["T"], fresh_batch=fresh["settings"]["batch_size"],
        trained_summary=trained["summary"] if trained else "(no trained flow recorded)", trained_T=trained_T,
        curves=rel(img / "adding_curves.png"), fresh_flow=rel(img / "fresh" / "gradient_flow.png"),
        fresh_acts=rel(img / "fresh" / "activations.png"), fresh_spectra=rel(img / "fresh" / "spectra.png"),
        fresh_norms=rel(img / "fresh" / "grad_norms.png"),
        trained_flow=rel(img / "trained" / "gradient_flow.png") if trained else "",
        trained_acts=rel(img / "trained" / "activations.png") if trained else "",
        forget_bias=s["forget_bias"] if s["forget_bias"] is not None else "as PyTorch's default init, U(-1/sqrt(H), 1/sqrt(H))", pending=pending(results), notes=results.get("notes", ""))
    page = out / "gradient-flow.md"
    page.write_text(text, encoding="utf-8")
    return page


PAGE = """\
# Gradient flow through time, and the long-memory benchmark

*Generated by `benchmarks/long_memory.py`; do not edit by hand.* Regenerate with

    python benchmarks/long_memory.py --out docs --lengths 50 100 200 --seeds 0 1 2 --workers 9 --time-limit 2400

(27 runs, at most 40 minutes each, 9 at a time: up to 2 hours on 9 free cores; or redraw the page from
saved numbers: `python benchmarks/long_memory.py --out docs --from-results FILE`). The table below
comes from a smaller budget, stated under it.

## Why a plain RNN forgets

For a loss at position `t`, `dL/dh_(t-k)` is a product of `k` step Jacobians, `diag(1 - h^2) W_h^T`
for a tanh RNN: it shrinks (or grows) geometrically with the lag. An LSTM carries its gradient along
the cell state, `dc_(t-1) = f * dc_t`, a GRU along `h_t = (1 - z) n + z h_(t-1)`: the gradient lives
as long as the forget gate `f` (or `z`) stays near 1.

`rnnkit diagnose` measures this with the engine's own backward pass (`rnnkit.diagnostics.gradient_flow`):
for a random unit probe `u_t` and `L_t = u_t . h_t`, the norm `||dL_t/dh_(t-k)||`, averaged over all
positions `t >= k` and the batch. The test suite checks the measurement against the closed form of a
linear RNN, `u_t (W_h^T)^k`, and against the explicit Jacobian product of a tanh RNN.

### Fresh cells (1 layer of 128, PyTorch's default init; adding-problem inputs, T = {fresh_T}, batch {fresh_batch})

```
{fresh_summary}
```

![gradient flow, fresh cells]({fresh_flow})

Freshly initialised, all three cells forget at a similar rate: the LSTM's forget gate starts near
0.5 (its bias is near 0), the GRU's update gate too. The gates are what *training* can open:

![activations, fresh cells]({fresh_acts})
![spectra, fresh cells]({fresh_spectra})
![gradient norms, fresh cells]({fresh_norms})

### After training on the adding problem (T = {trained_T}, the lowest seed; flow on a batch of 8)

```
{trained_summary}
```

![gradient flow, trained]({trained_flow})

The curve is a mean over positions and probe directions, so it is carried by the directions that
survive: a trained LSTM's forget gate can average below 0.5 while a few units with `f` near 1 (the
right tail of its histogram) keep `dL/dc` alive over the whole sequence. The tanh RNN that failed
went the other way: large `W_h` (sigma_max above 4) and saturated units (`tanh'` near 0 for most of them).

![activations, trained]({trained_acts})

## The adding problem

Input: `T` numbers from U(0, 1) and a second channel marking two of them (one in each half); target:
their sum. Always answering 1 gives MSE 1/6 = 0.167, the baseline. Model: 1 layer of 128 units and a
linear read-out of the last state; Adam 1e-3, batch 50, gradient clipping at 1, a fresh batch every
step, PyTorch's default initialisation (LSTM forget-gate bias {forget_bias}). A run stops when the
running mean of the training MSE over 50 steps falls below {threshold} ("steps to MSE < {threshold}"),
or at {max_steps} steps, or after {time_limit} s of wall time. Final MSE: on 1000 fresh sequences.

**Budget and machine of the table below:** lengths {lengths}, seeds {seeds}, at most {time_limit} s of
wall time per run (one CPU thread each, runs in parallel), `{command}`; {wall:.1f} minutes in all on
{machine[cpu_count]} CPUs ({machine[platform]}, Python {machine[python]}, NumPy {machine[numpy]}).

{table}

![training curves]({curves})

{pending}

{notes}
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "docs", help="docs folder for gradient-flow.md and images")
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "adding.json",
                   help="where the raw numbers go (JSON)")
    p.add_argument("--from-results", type=Path, help="draw the page from this JSON instead of training")
    p.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200])
    p.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"], choices=["rnn", "lstm", "gru"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--time-limit", type=float, default=900.0, help="seconds per run")
    p.add_argument("--max-steps", type=int, default=20000)
    p.add_argument("--threshold", type=float, default=0.01)
    p.add_argument("--forget-bias", type=float, default=None, help="LSTM forget-gate bias (default: PyTorch's init)")
    p.add_argument("--workers", type=int, default=2, help="runs in parallel")
    p.add_argument("--flow-batch", type=int, default=8, help="batch for the trained models' gradient flow (0: skip)")
    p.add_argument("--no-page", action="store_true", help="train and save the numbers only")
    p.add_argument("--notes", type=Path, help="a Markdown file appended to the page (observations, comparison)")
    p.add_argument("--trained-T", type=int, default=100, help="length whose trained models' gradient flow is shown")
    args = p.parse_args(argv)
    if args.from_results:
        results = json.loads(args.from_results.read_text(encoding="utf-8"))
    else:
        results = run_all(args)
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results) + "\n", encoding="utf-8")
        print(f"numbers: {args.results}")
    if args.notes:
        results["notes"] = args.notes.read_text(encoding="utf-8")
    if not args.no_page:
        fresh = diagnose_fresh(T=100, batch_size=16, hidden_size=128, norm_steps=100, seed=0)
        print(f"page: {write_page(results, args.out, fresh, args.trained_T)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
