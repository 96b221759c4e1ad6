"""``rnnkit diagnose`` (gradient flow, spectra, gates, gradient norms) and ``rnnkit task`` (the
long-memory tasks). Thin: parse, validate, call ``rnnkit.diagnostics``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DIAGNOSE_EPILOG = """\
examples:
  rnnkit diagnose --out diag                       # fresh RNN, LSTM, GRU of 128 units side by side
  rnnkit diagnose --hidden 64 --T 200 --forget-bias 1 --out diag
  rnnkit diagnose --checkpoint runs/demo --text notes.txt --out diag-demo   # a trained language model

Writes report.json (all numbers), summary.txt (one line per cell or layer), gradient_flow.png,
spectra.png, activations.png and grad_norms.png into --out.
"""

TASK_EPILOG = """\
examples:
  rnnkit task adding --T 100 --cell gru --time-limit 300 --out runs/adding-gru
  rnnkit task copy --T 50 --cell lstm --max-steps 2000
"""


def register(sub) -> None:
    p = sub.add_parser("diagnose", help="gradient flow through time, W_h spectra, gates, gradient norms",
                       description="Measure vanishing/exploding gradients of fresh cells or a trained model.",
                       epilog=DIAGNOSE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", metavar="DIR", required=True, help="folder for report.json, summary.txt, PNGs")
    p.add_argument("--checkpoint", metavar="RUN", help="a language model (run directory or .safetensors); "
                   "without it, fresh cells are measured")
    p.add_argument("--text", metavar="FILE", help="with --checkpoint: text to measure on (default: text "
                   "sampled from the model)")
    p.add_argument("--cells", nargs="+", choices=["rnn", "lstm", "gru"], default=["rnn", "lstm", "gru"])
    p.add_argument("--hidden", type=int, default=128, help="fresh cells: hidden size")
    p.add_argument("--layers", type=int, default=1, help="fresh cells: stacked layers")
    p.add_argument("--init", choices=["uniform", "orthogonal"], default="uniform", help="fresh cells")
    p.add_argument("--forget-bias", type=float, default=None, help="fresh LSTM: forget-gate bias")
    p.add_argument("--T", type=int, default=100, help="sequence length (largest lag is T-1)")
    p.add_argument("--batch", type=int, default=16, help="sequences averaged over")
    p.add_argument("--max-lag", type=int, default=None, help="largest lag (default T-1)")
    p.add_argument("--norm-steps", type=int, default=50, help="training steps for the gradient-norm traces (0: skip)")
    p.add_argument("--clip", type=float, default=1.0, help="max global norm of the clipped trace")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_diagnose)

    p = sub.add_parser("task", help="train RNN/LSTM/GRU on the adding problem or the copy-memory task",
                       description="A long-memory task, reported against its trivial baseline.",
                       epilog=TASK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=["adding", "copy"])
    p.add_argument("--T", type=int, default=100, help="sequence length / steps to remember across")
    p.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="lstm")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--clip", type=float, default=1.0, help="max global gradient norm (0: no clipping)")
    p.add_argument("--forget-bias", type=float, default=None, help="LSTM forget-gate bias")
    p.add_argument("--init", choices=["uniform", "orthogonal"], default="uniform")
    p.add_argument("--max-steps", type=int, default=1000)
    p.add_argument("--time-limit", type=float, default=None, help="seconds")
    p.add_argument("--stop-below", type=float, default=None, help="stop once the running loss is below this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="DIR", help="write result.json (config, curve, final loss) here")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_task)


def _positive(**values) -> None:
    for name, v in values.items():
        if v is not None and v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {v}")


def cmd_diagnose(args: argparse.Namespace) -> int:
    import numpy as np

    from ..diagnostics import diagnose_fresh, diagnose_language_model, write_report

    _positive(hidden=args.hidden, layers=args.layers, batch=args.batch)
    if args.T < 2:
        raise ValueError(f"--T must be >= 2 (a lag needs two steps), got {args.T}")
    if args.max_lag is not None and not 0 <= args.max_lag < args.T:
        raise ValueError(f"--max-lag must lie in [0, T-1] = [0, {args.T - 1}], got {args.max_lag}")
    if args.text and not args.checkpoint:
        raise ValueError("--text needs --checkpoint (fresh cells are measured on adding-problem inputs)")
    if args.checkpoint:
        from ..data.text import read_text, tokenize
        from ..diagnostics.report import sample_ids
        from ..io.model_files import load_language_model
        from .lm import _model_path

        model, vocab, meta = load_language_model(_model_path(args.checkpoint))
        L = args.T + 1
        if args.text:
            ids = np.array(vocab.encode(tokenize(read_text(args.text), level=meta["level"])))
            if ids.size < args.batch * L:
                raise ValueError(f"'{args.text}' has {ids.size} tokens; --batch {args.batch} windows of --T {args.T} "
                                 f"need {args.batch * L}: give more text or lower --batch / --T")
            ids = ids[: args.batch * L].reshape(args.batch, L)
        else:
            ids = sample_ids(model, batch_size=args.batch, length=L, rng=np.random.default_rng(args.seed))
        report = diagnose_language_model(model, ids, max_lag=args.max_lag, norm_steps=args.norm_steps,
                                         clip=args.clip, seed=args.seed)
        report["settings"]["checkpoint"] = str(args.checkpoint)
        report["settings"]["data"] = args.text or "sampled from the model"
    else:
        report = diagnose_fresh(cells=tuple(args.cells), hidden_size=args.hidden, num_layers=args.layers, T=args.T,
                                batch_size=args.batch, max_lag=args.max_lag, init=args.init,
                                forget_bias=args.forget_bias, norm_steps=args.norm_steps, clip=args.clip,
                                seed=args.seed)
    paths = write_report(report, args.out)
    print(report["summary"])
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out}")
    return 0


def cmd_task(args: argparse.Namespace) -> int:
    from ..diagnostics import TaskConfig, train_task
    from ..training.progress import Progress

    _positive(hidden=args.hidden, layers=args.layers, batch_size=args.batch_size, max_steps=args.max_steps)
    config = TaskConfig(task=args.task, T=args.T, cell=args.cell, hidden_size=args.hidden, num_layers=args.layers,
                        batch_size=args.batch_size, lr=args.lr, clip=args.clip or None,
                        forget_bias=args.forget_bias, init=args.init, max_steps=args.max_steps,
                        time_limit=args.time_limit, stop_below=args.stop_below, seed=args.seed)
    progress = Progress(every=100, enabled=not args.quiet)
    result = train_task(config, on_step=lambda step, loss, norm: progress.update(
        f"step {step:6d}  loss {loss:.4f}  grad norm {norm:8.3g}  (baseline {config.baseline:.4f})"))
    progress.message("")
    name = "MSE" if args.task == "adding" else "cross-entropy"
    ratio = result.final_loss / config.baseline
    print(f"{args.task} T={args.T} {args.cell.upper()}: {result.steps} steps in {result.seconds:.0f} s ({result.stopped})")
    print(f"final {name} {result.final_loss:.4f} on {config.eval_batch_size} fresh sequences; "
          f"trivial baseline {config.baseline:.4f} (x{ratio:.3f} of it)")
    if result.solved_step is not None:
        print(f"running loss below {config.stop_below} at step {result.solved_step}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(json.dumps(result.to_json()) + "\n", encoding="utf-8")
        print(f"wrote {out / 'result.json'}")
    return 0
