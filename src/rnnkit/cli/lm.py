"""``rnnkit train``, ``rnnkit eval`` and ``rnnkit generate``: language models."""

from __future__ import annotations

import argparse
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

# Without --train: a character-level LSTM on the text every Python ships (about two minutes).
BUILTIN_PRESET = dict(level="char", cell="lstm", layers=2, hidden=256, batch_size=32, bptt=64,
                      optimizer="adam", lr=0.003, clip=1.0, schedule="none", epochs=100, time_limit=120.0,
                      init_scale=None, sum_over_time=False, dropout=0.0, out="runs/demo", log_every=20)
# With --train: Zaremba et al. (2014)'s "small" configuration.
FILE_PRESET = dict(level="word", cell="lstm", layers=2, hidden=200, batch_size=20, bptt=20, optimizer="sgd",
                   lr=1.0, clip=5.0, schedule="step", epochs=13, time_limit=None, init_scale=0.1,
                   sum_over_time=True, dropout=0.0, out=None, log_every=100)
COMMON_DEFAULTS = dict(max_vocab=None, min_freq=1, documents=False, embed=None, tie=False, init="uniform", forget_bias=None,
                       gru_reset="after", nonlinearity="tanh", dtype="float32", tbptt=None, random_bptt=False,
                       momentum=0.0, weight_decay=0.0, decay_start=4, decay_factor=0.5, max_steps=None,
                       seed=0, checkpoint_every=500, eval_batch_size=10, test_batch_size=1)

TRAIN_EPILOG = """\
examples:
  rnnkit train                                    # char-level LSTM on CPython's docs, ~2 minutes
  rnnkit train --train ptb.train.txt --valid ptb.valid.txt --test ptb.test.txt \\
               --level word --cell lstm --layers 2 --hidden 200 --epochs 13 --out runs/ptb-small
  rnnkit train --config run.toml                  # settings as TOML, keys = option names (hidden = 200)
  rnnkit train --resume runs/ptb-small            # continue exactly where it stopped (Ctrl-C saves)
  mpiexec -n 2 rnnkit train --train ptb.train.txt --out runs/p2   # data parallel: each of 2 processes
                                                  # reads batch/2 streams (pip install 'rnnkit[mpi]';
                                                  # see docs/scale-out.md)

With --train the defaults are Zaremba et al. (2014)'s small model: SGD lr 1 on the loss summed over the
window, halved each epoch after the 4th, clip 5, init U(-0.1, 0.1), batch 20, bptt 20, 13 epochs.
"""


def register(sub) -> None:
    """Add the language-model commands to the ``rnnkit`` sub-command parser."""
    _add_train(sub)
    p = sub.add_parser("eval", help="perplexity of a trained language model on a text file",
                       description="Perplexity of a language model on a file; the last line is 'perplexity: <number>'.")
    p.add_argument("run", help="run directory (its model.safetensors) or a .safetensors file")
    p.add_argument("file", help="text file, tokenized as the model was trained")
    p.add_argument("--batch-size", type=int, default=1, help="parallel streams (1 reads every token)")
    p.add_argument("--bptt", type=int, default=35, help="window length (the state carries across windows)")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("generate", help="generate text from a trained language model",
                       description="Continue a prompt, greedily or by sampling (reproducible with --seed).")
    p.add_argument("run", help="run directory (its model.safetensors) or a .safetensors file")
    p.add_argument("--prompt", help="text to continue (default: 'the' / 'The ')")
    p.add_argument("--length", type=int, default=50, help="tokens to generate")
    p.add_argument("--temperature", type=float, default=1.0, help="< 1 sharper, > 1 more random")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely tokens (0: all)")
    p.add_argument("--greedy", action="store_true", help="always the most likely token")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_generate)


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a language model", epilog=TRAIN_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train a word- or character-level language model with truncated BPTT.")
    S = argparse.SUPPRESS
    data = p.add_argument_group("data")
    data.add_argument("--train", metavar="FILE", default=S, help="training text (default: CPython's docs, char level)")
    data.add_argument("--valid", metavar="FILE", default=S, help="validation text, evaluated each epoch")
    data.add_argument("--test", metavar="FILE", default=S, help="test text, evaluated with the best model at the end")
    data.add_argument("--level", choices=["word", "char"], default=S, help="tokens: words (+<eos> per line) or characters")
    data.add_argument("--max-vocab", type=int, default=S, help="keep the most frequent tokens (incl. specials)")
    data.add_argument("--min-freq", type=int, default=S, help="drop tokens seen fewer times")
    data.add_argument("--documents", action="store_true", default=S,
                      help="blank lines separate documents; each stream's state resets where one begins")
    model = p.add_argument_group("model")
    model.add_argument("--cell", choices=["rnn", "lstm", "gru"], default=S)
    model.add_argument("--layers", type=int, default=S, help="stacked recurrent layers")
    model.add_argument("--hidden", type=int, default=S, help="hidden size")
    model.add_argument("--embed", type=int, default=S, help="embedding size (default: hidden)")
    model.add_argument("--dropout", type=float, default=S, help="on embeddings, between layers, on the output")
    model.add_argument("--tie", action="store_true", default=S, help="tie input embedding and output layer")
    model.add_argument("--init", choices=["uniform", "orthogonal"], default=S)
    model.add_argument("--init-scale", type=float, default=S, help="every weight U(-s, s)")
    model.add_argument("--forget-bias", type=float, default=S, help="LSTM forget-gate bias (e.g. 1)")
    model.add_argument("--gru-reset", choices=["after", "before"], default=S, help="GRU form: PyTorch's or Cho et al.'s")
    model.add_argument("--nonlinearity", choices=["tanh", "relu"], default=S, help="plain RNN activation")
    model.add_argument("--dtype", choices=["float32", "float64"], default=S)
    opt = p.add_argument_group("training")
    opt.add_argument("--batch-size", type=int, default=S, help="parallel streams")
    opt.add_argument("--bptt", type=int, default=S, help="window length (steps backpropagated)")
    opt.add_argument("--tbptt", type=int, nargs=2, metavar=("K1", "K2"), default=S,
                     help="TBPTT(k1, k2): update every K1 steps, backpropagate K2 >= K1 steps")
    opt.add_argument("--random-bptt", action="store_true", default=S, help="AWD-LSTM random window lengths")
    opt.add_argument("--optimizer", choices=["sgd", "adam"], default=S)
    opt.add_argument("--lr", type=float, default=S)
    opt.add_argument("--momentum", type=float, default=S)
    opt.add_argument("--weight-decay", type=float, default=S)
    opt.add_argument("--clip", type=float, default=S, help="max global gradient norm (0: no clipping)")
    opt.add_argument("--schedule", choices=["none", "step", "plateau"], default=S)
    opt.add_argument("--decay-start", type=int, default=S, help="step schedule: epochs at the initial lr")
    opt.add_argument("--decay-factor", type=float, default=S, help="lr multiplier per decay")
    opt.add_argument("--sum-over-time", action=argparse.BooleanOptionalAction, default=S,
                     help="lr applies to the loss summed over the window (Zaremba et al.)")
    opt.add_argument("--epochs", type=int, default=S)
    opt.add_argument("--max-steps", type=int, default=S, help="stop after this many steps")
    opt.add_argument("--time-limit", type=float, default=S, help="stop after this many seconds")
    opt.add_argument("--seed", type=int, default=S)
    run = p.add_argument_group("run")
    run.add_argument("--out", metavar="DIR", default=S, help="run directory (checkpoints, metrics, curve)")
    run.add_argument("--resume", metavar="DIR", default=S, help="continue the run in DIR exactly")
    run.add_argument("--config", metavar="FILE", default=S, help="TOML file of settings (flags win)")
    run.add_argument("--checkpoint-every", type=int, default=S, help="steps between checkpoints (0: epochs only)")
    run.add_argument("--log-every", type=int, default=S, help="steps between metric records")
    run.add_argument("--eval-batch-size", type=int, default=S)
    run.add_argument("--test-batch-size", type=int, default=S)
    run.add_argument("--quiet", action="store_true", default=False, help="no progress output")
    p.set_defaults(func=cmd_train)


def _train_settings(args: argparse.Namespace) -> dict:
    """Flags over the TOML file over the preset (which depends on whether --train is given)."""
    given = {k: v for k, v in vars(args).items() if k not in ("func", "command", "quiet")}
    from_file = {}
    if "config" in given:
        path = Path(given.pop("config"))
        try:
            from_file = {k.replace("-", "_"): v for k, v in tomllib.loads(path.read_text(encoding="utf-8")).items()}
        except FileNotFoundError:
            raise ValueError(f"config file '{path}' does not exist") from None
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"config file '{path}' is not valid TOML: {err}") from None
    merged = {**from_file, **given}
    preset = FILE_PRESET if merged.get("train") else BUILTIN_PRESET
    known = set(preset) | set(COMMON_DEFAULTS) | {"train", "valid", "test", "resume"}
    unknown = sorted(set(from_file) - known)
    if unknown:
        raise ValueError(f"unknown settings in the config file: {unknown}; use the option names of 'rnnkit train --help'")
    return {**COMMON_DEFAULTS, **preset, "train": None, "valid": None, "test": None, **merged}


def cmd_train(args: argparse.Namespace) -> int:
    from ..training.distributed import abort_on_error, world

    comm = world()  # several processes under `mpiexec -n N` (with mpi4py), else one
    with abort_on_error(comm, what="rnnkit train"):
        return _train(args, comm)


def _train(args: argparse.Namespace, comm) -> int:
    from ..data.corpus import load_corpus
    from ..models.language_model import LMConfig
    from ..training.lm_trainer import LMTrainer, TrainConfig
    from ..training.progress import Progress

    given = {k for k in vars(args) if k not in ("func", "command", "quiet")}
    s = _train_settings(args)
    train_config = dict(
        batch_size=s["batch_size"], bptt=s["bptt"], random_bptt=s["random_bptt"], optimizer=s["optimizer"],
        lr=s["lr"], momentum=s["momentum"], weight_decay=s["weight_decay"], clip=s["clip"] or None,
        schedule=s["schedule"], decay_start=s["decay_start"], decay_factor=s["decay_factor"], epochs=s["epochs"],
        max_steps=s["max_steps"], time_limit=s["time_limit"], sum_over_time=s["sum_over_time"], seed=s["seed"],
        checkpoint_every=s["checkpoint_every"], log_every=s["log_every"], eval_batch_size=s["eval_batch_size"],
        test_batch_size=s["test_batch_size"],
        tbptt_k1=s["tbptt"][0] if s["tbptt"] else None, tbptt_k2=s["tbptt"][1] if s["tbptt"] else None)
    progress = Progress(every=s["log_every"], enabled=not args.quiet)
    if s.get("resume"):
        resumable = {"epochs", "max_steps", "time_limit", "log_every", "checkpoint_every"}
        overrides = {k: train_config[k] for k in resumable if k in given}
        other = sorted(given - resumable - {"resume"})
        if other:
            raise ValueError(f"--resume continues a run with its own settings; drop {['--' + o.replace('_', '-') for o in other]}")
        trainer = LMTrainer.resume(s["resume"], progress=progress, overrides=overrides, comm=comm)
    else:
        if not s["out"]:
            raise ValueError("give a run directory with --out DIR")
        corpus = load_corpus(train=s["train"], valid=s["valid"], test=s["test"], level=s["level"],
                             max_vocab=s["max_vocab"], min_freq=s["min_freq"], documents=s["documents"])
        model_config = LMConfig(vocab_size=len(corpus.vocab), cell=s["cell"], hidden_size=s["hidden"],
                                embed_size=s["embed"], num_layers=s["layers"], dropout=s["dropout"],
                                tie_weights=s["tie"], init=s["init"], init_scale=s["init_scale"],
                                forget_bias=s["forget_bias"], gru_reset=s["gru_reset"],
                                nonlinearity=s["nonlinearity"], dtype=s["dtype"])
        trainer = LMTrainer.create(model_config=model_config, corpus=corpus, config=TrainConfig(**train_config),
                                   out_dir=s["out"], progress=progress, comm=comm)
    summary = trainer.fit()
    if comm.rank != 0:  # rank 0 reports for all
        return 130 if summary["status"] == "interrupted" else 0
    if comm.size > 1:
        print(f"data-parallel over {comm.size} MPI ranks, {trainer.config.batch_size // comm.size} streams each")
    print(f"run: {summary['run']}  status: {summary['status']}  steps: {summary['step']}  "
          f"time: {summary['elapsed']:.0f} s")
    if summary.get("valid_ppl") is not None:
        print(f"best validation perplexity: {summary['valid_ppl']:.2f}")
    if summary.get("test_ppl") is not None:
        print(f"test perplexity: {summary['test_ppl']:.2f}")
    return 130 if summary["status"] == "interrupted" else 0


def _model_path(run: str) -> Path:
    path = Path(run)
    if path.is_dir():
        if (path / "model.safetensors").exists():
            return path / "model.safetensors"
        raise FileNotFoundError(f"'{path}' has no model.safetensors; is it a run directory of 'rnnkit train'?")
    return path


def cmd_eval(args: argparse.Namespace) -> int:
    from ..data.text import read_text, tokenize
    from ..io.model_files import load_language_model
    from ..training.lm_trainer import perplexity

    model, vocab, meta = load_language_model(_model_path(args.run))
    tokens = tokenize(read_text(args.file), level=meta["level"])
    ids = vocab.encode(tokens)
    unknown = sum(t not in vocab for t in tokens)
    if unknown:
        print(f"note: {unknown:,} of {len(tokens):,} tokens are not in the model's vocabulary and count as {vocab.unk!r}")
    if len(ids) < 2:
        raise ValueError(f"'{args.file}' has fewer than 2 tokens; nothing to evaluate")
    ppl = perplexity(model, ids, batch_size=args.batch_size, bptt=args.bptt)
    print(f"tokens: {len(ids):,}  batch size: {args.batch_size}")
    print(f"perplexity: {ppl:.4f}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    import numpy as np

    from ..data.text import tokenize
    from ..io.model_files import load_language_model

    model, vocab, meta = load_language_model(_model_path(args.run))
    level = meta["level"]
    prompt = args.prompt if args.prompt is not None else ("The " if level == "char" else "the")
    tokens = tokenize(prompt, level=level)
    if level == "word" and tokens and tokens[-1] == "<eos>":
        tokens = tokens[:-1]  # a prompt is a line still being written
    if not tokens:
        raise ValueError("the prompt is empty; give at least one token with --prompt")
    ids = vocab.encode(tokens, unknown="error")
    out = model.generate(ids, args.length, temperature=args.temperature, top_k=args.top_k,
                         greedy=args.greedy, rng=np.random.default_rng(args.seed))
    new = vocab.decode(out)
    if level == "char":
        print(prompt + "".join(new))
    else:
        print(" ".join(tokens + new).replace(" <eos> ", "\n").replace(" <eos>", "\n"))
    return 0
