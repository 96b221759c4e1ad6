"""Truncated-BPTT training of a language model, with exact resume.

The token stream is cut into ``batch_size`` parallel streams read in order; each step reads one
window (``data.windows``), starting from the state the previous window carried (the forward pass
never breaks) and backpropagating only inside the window (truncated). A run directory holds::

    checkpoint.safetensors   everything needed to resume exactly (weights, optimiser, schedule,
                             RNG states, data position, carried state), written atomically
    model.safetensors        the best model by validation perplexity (or the last, without one)
    metrics.jsonl            one record per log interval and per epoch
    curve.png                perplexity against step

Data-parallel over MPI (``comm``, see ``training.distributed``): rank ``r`` of ``N`` reads streams
``[r*B/N, (r+1)*B/N)``, the gradients are summed over the ranks once per step before clipping and
the update, and rank 0 alone logs, evaluates and writes files. The checkpoint holds the state of
all ``B`` streams, so a run resumes on any number of ranks that divides ``B``.
"""

from __future__ import annotations

import hashlib
import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..config import from_dict
from ..data.corpus import Corpus, load_corpus
from ..data.windows import awd_windows, batchify, bptt_windows, tbptt_windows
from ..io.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ..io.model_files import build_language_model, lm_meta, save_language_model, write_model_card
from ..models.language_model import LanguageModel
from ..nn import SoftmaxCrossEntropy
from ..optim import SGD, Adam, ReduceOnPlateau, StepDecay, clip_grad_norm
from .distributed import FlatGradients, SingleProcess, fail_for_test
from .plots import plot_training_curve
from .progress import MetricsLog, Progress, bar

CHECKPOINT = "checkpoint.safetensors"
MODEL = "model.safetensors"
METRICS = "metrics.jsonl"
CURVE = "curve.png"
# Scalars that travel after the gradients in the step's allreduce buffer (see LMTrainer._allreduce).
_LOSS, _STOP_VOTES, _TIME_VOTES = 0, 1, 2


@dataclass
class TrainConfig:
    """How to train. ``sum_over_time`` is Zaremba et al.'s convention: the lr applies to the loss
    summed over the window's steps and averaged over the batch (the gradient is ``L`` times the
    per-token mean's). ``tbptt_k1/k2``: TBPTT(k1, k2) of Williams & Peng (update every k1 steps,
    backpropagate k2), instead of windows of ``bptt``. ``random_bptt``: AWD-LSTM's random lengths
    around ``bptt``, with the lr scaled by length/bptt. ``schedule``: ``"none"``, ``"step"`` (keep the
    lr for ``decay_start`` epochs, then multiply by ``decay_factor`` each epoch) or ``"plateau"``
    (multiply by ``decay_factor`` when validation perplexity does not improve)."""

    batch_size: int = 20
    bptt: int = 35
    tbptt_k1: int | None = None
    tbptt_k2: int | None = None
    random_bptt: bool = False
    optimizer: str = "sgd"
    lr: float = 1.0
    momentum: float = 0.0
    weight_decay: float = 0.0
    clip: float | None = 5.0
    schedule: str = "none"
    decay_start: int = 4
    decay_factor: float = 0.5
    epochs: int = 13
    max_steps: int | None = None
    time_limit: float | None = None
    sum_over_time: bool = False
    seed: int = 0
    checkpoint_every: int = 0
    log_every: int = 100
    eval_batch_size: int = 10
    test_batch_size: int = 1

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.schedule not in ("none", "step", "plateau"):
            raise ValueError(f"schedule must be 'none', 'step' or 'plateau', got {self.schedule!r}")
        for name in ("batch_size", "bptt", "epochs", "log_every", "eval_batch_size", "test_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if (self.tbptt_k1 is None) != (self.tbptt_k2 is None):
            raise ValueError("TBPTT(k1, k2) needs both tbptt_k1 and tbptt_k2")
        if self.tbptt_k1 is not None and self.random_bptt:
            raise ValueError("choose TBPTT(k1, k2) or random window lengths, not both")

    @classmethod
    def from_json(cls, data: dict) -> TrainConfig:
        return from_dict(cls, data, what="training settings")


def perplexity(model: LanguageModel, ids: np.ndarray, *, batch_size: int, bptt: int = 35) -> float:
    """``exp`` of the mean next-token negative log-likelihood over ``ids``, read as ``batch_size``
    parallel streams carrying their state (the last ``len % batch_size`` tokens are dropped)."""
    streams = batchify(ids, min(batch_size, max(1, (len(ids) - 1) // 2)))
    loss = SoftmaxCrossEntropy(reduction="sum")
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    try:
        for w in bptt_windows(streams, bptt=bptt):
            logits, state = model.forward(w.x, state)
            total += loss.forward(logits, w.y)
            count += w.y.size
    finally:
        model.train(was_training)
    return math.exp(total / count)


def _digest(ids: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(ids, dtype=np.int64).tobytes()).hexdigest()[:16]


@contextmanager
def _stop_on_sigint(trainer: LMTrainer):
    """The first Ctrl-C asks the loop to stop after the current step (which then checkpoints);
    a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _NoLog:
    """The metrics log of ranks other than 0, which write no files."""

    def write(self, record: dict) -> None:
        pass

    def records(self) -> list[dict]:
        return []

    def truncate_after(self, step: int) -> None:
        pass


class LMTrainer:
    """Trains ``model`` on ``corpus`` into ``out_dir``. Use ``LMTrainer.resume(out_dir)`` to continue.

    ``comm``: a communicator from ``training.distributed`` (``world()`` under ``mpiexec``); without
    one, a single process trains on the whole batch.
    """

    def __init__(self, model: LanguageModel, corpus: Corpus, config: TrainConfig, out_dir: str | Path,
                 *, progress: Progress | None = None, comm=None) -> None:
        self.model, self.corpus, self.config = model, corpus, config
        self.comm = comm if comm is not None else SingleProcess()
        B, N, r = config.batch_size, self.comm.size, self.comm.rank
        if B % N:
            raise ValueError(f"batch_size {B} must be divisible by the number of MPI ranks ({N}), which each "
                             f"train on batch_size / ranks streams; run with -n a divisor of {B} or change --batch-size")
        self.rows = slice(r * B // N, (r + 1) * B // N)  # this rank's parallel streams
        self.is_root = r == 0
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.progress = progress if progress is not None else Progress(every=config.log_every)
        if not self.is_root:
            self.progress = Progress(enabled=False)
        self.log = MetricsLog(self.out_dir / METRICS) if self.is_root else _NoLog()
        # One contiguous buffer for every gradient (+ scalars), built before the optimiser captures them.
        self.flat = FlatGradients(model, extras=3)
        self.data_rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(2)[1])
        if config.optimizer == "sgd":
            self.optimizer = SGD(model, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
        else:
            self.optimizer = Adam(model, lr=config.lr, weight_decay=config.weight_decay)
        self.scheduler = None
        if config.schedule == "step":
            self.scheduler = StepDecay(start_epoch=config.decay_start, factor=config.decay_factor)
        elif config.schedule == "plateau":
            self.scheduler = ReduceOnPlateau(factor=config.decay_factor)
        self.loss = SoftmaxCrossEntropy()
        self.epoch, self.pos, self.step = 1, 0, 0
        self.state = None
        self.best_valid: float | None = None
        self.sums = {"epoch_nll": 0.0, "epoch_tokens": 0, "interval_nll": 0.0, "interval_tokens": 0}
        self.elapsed = 0.0
        self.stop_requested = False
        self.train_digest = _digest(corpus.train)

    @classmethod
    def create(cls, *, model_config, corpus: Corpus, config: TrainConfig, out_dir: str | Path,
               progress: Progress | None = None, comm=None) -> LMTrainer:
        """A fresh run: the model is initialised from ``config.seed`` (the same weights on every rank)."""
        out_dir = Path(out_dir)
        if (out_dir / CHECKPOINT).exists():
            raise FileExistsError(
                f"'{out_dir}' already holds a run ({CHECKPOINT}); resume it with --resume, "
                "or choose another --out directory"
            )
        model_rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(2)[0])
        model = LanguageModel(model_config, rng=model_rng)
        trainer = cls(model, corpus, config, out_dir, progress=progress, comm=comm)
        if trainer.is_root:
            (out_dir / METRICS).unlink(missing_ok=True)
        trainer._own_dropout_stream()
        return trainer

    def _own_dropout_stream(self) -> None:
        """Rank ``r > 0`` draws dropout masks from the model's generator jumped ``r`` times (a
        stream of its own, so ranks don't drop the same units); rank 0 keeps the checkpointed one."""
        if self.comm.rank > 0:
            bits = self.model.rng.bit_generator
            bits.state = bits.jumped(self.comm.rank).state

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self) -> Path | None:
        """Write the checkpoint (rank 0; with several ranks every rank must call this, as it gathers
        the carried state of all streams). Returns its path, or None on other ranks."""
        parts = self._gather_state()
        self._check_same_weights()
        if not self.is_root:
            return None
        arrays = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        opt_arrays, opt_meta = self.optimizer.state_dict()
        arrays.update({f"optim.{k}": v for k, v in opt_arrays.items()})
        if parts is not None:
            arrays.update({f"state.{i}": np.ascontiguousarray(p) for i, p in enumerate(parts)})
        training = {
            "config": asdict(self.config), "epoch": self.epoch, "pos": self.pos, "step": self.step,
            "sums": self.sums, "best_valid": self.best_valid, "elapsed": self.elapsed,
            "optimizer": opt_meta, "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "model_rng": self.model.rng.bit_generator.state, "data_rng": self.data_rng.bit_generator.state,
            "corpus": {"source": self.corpus.source, "level": self.corpus.level,
                       "documents": self.corpus.train_doc_starts is not None,
                       "train_tokens": int(len(self.corpus.train)), "train_digest": self.train_digest},
        }
        meta = {**lm_meta(self.model, self.corpus.vocab, level=self.corpus.level), "training": training}
        path = save_checkpoint(self.out_dir / CHECKPOINT, arrays, meta)
        write_model_card(path, meta, num_parameters=self.model.num_parameters())
        return path

    def _gather_state(self) -> tuple[np.ndarray, ...] | None:
        """The carried state of all ``B`` streams on rank 0, each part ``(num_layers, B, H)``, the
        ranks' rows in rank order (None on other ranks, or when no state is carried)."""
        if self.state is None:
            return None
        parts = self.state if isinstance(self.state, tuple) else (self.state,)
        gathered = self.comm.gather(parts)  # one tuple of (num_layers, B/N, H) arrays per rank
        if gathered is None:
            return None
        return tuple(np.concatenate([g[i] for g in gathered], axis=1) for i in range(len(parts)))

    def _check_same_weights(self) -> None:
        """Every rank must hold bit-identical weights (they apply the same summed gradient); checked
        at each checkpoint by comparing digests, so a divergence cannot go unnoticed."""
        if self.comm.size == 1:
            return
        digest = hashlib.sha256(b"".join(p.tobytes() for p in self.model.parameters())).hexdigest()
        digests = self.comm.gather(digest)
        digests = self.comm.broadcast(digests)  # so that every rank raises, not only rank 0
        if len(set(digests)) != 1:
            raise RuntimeError(f"the ranks' weights differ at step {self.step} (digests {digests}); "
                               "data-parallel training requires an MPI whose allreduce gives every rank the same sum")

    @classmethod
    def resume(cls, out_dir: str | Path, *, corpus: Corpus | None = None, progress: Progress | None = None,
               overrides: dict | None = None, comm=None) -> LMTrainer:
        """Continue the run in ``out_dir`` exactly where its checkpoint stopped, on ``comm``'s ranks
        (any number that divides the batch size, whatever number wrote the checkpoint).

        The corpus is re-read from the recorded paths (or given) and must be the same text.
        ``overrides`` may change only ``epochs``, ``max_steps``, ``time_limit``, ``log_every`` and
        ``checkpoint_every``.
        """
        path = Path(out_dir) / CHECKPOINT
        arrays, meta = load_checkpoint(path)
        if "training" not in meta:
            raise CheckpointError(f"'{path}' holds a model but no training state; it cannot be resumed")
        t = meta["training"]
        model, vocab = build_language_model(path, arrays, meta)
        settings = dict(t["config"])
        allowed = {"epochs", "max_steps", "time_limit", "log_every", "checkpoint_every"}
        for key, value in (overrides or {}).items():
            if key not in allowed and settings.get(key) != value:
                raise ValueError(
                    f"cannot change '{key}' when resuming (the checkpoint has {settings.get(key)!r}, "
                    f"asked {value!r}); resume without it, or start a new run"
                )
            settings[key] = value
        config = TrainConfig.from_json(settings)
        if corpus is None:
            source = t["corpus"]["source"]
            builtin = source["train"].startswith("builtin:")
            corpus = load_corpus(train=None if builtin else source["train"],
                                 valid=None if builtin else source.get("valid"),
                                 test=None if builtin else source.get("test"),
                                 level=t["corpus"]["level"], vocab=vocab,
                                 documents=t["corpus"].get("documents", False))
        if corpus.vocab != vocab:
            raise CheckpointError(f"'{path}' was trained with another vocabulary than the corpus given")
        if _digest(corpus.train) != t["corpus"]["train_digest"]:
            raise CheckpointError(
                f"the training text differs from the one '{path}' was trained on "
                f"({len(corpus.train):,} tokens now, {t['corpus']['train_tokens']:,} then); "
                "restore the original file to resume, or start a new run"
            )
        trainer = cls(model, corpus, config, out_dir, progress=progress, comm=comm)
        opt_arrays = {k[len("optim."):]: v for k, v in arrays.items() if k.startswith("optim.")}
        trainer.optimizer.load_state_dict(opt_arrays, t["optimizer"])
        if trainer.scheduler is not None:
            trainer.scheduler.load_state_dict(t["scheduler"])
        model.rng.bit_generator.state = t["model_rng"]
        trainer.data_rng.bit_generator.state = t["data_rng"]
        trainer.epoch, trainer.pos, trainer.step = t["epoch"], t["pos"], t["step"]
        trainer.sums, trainer.best_valid, trainer.elapsed = dict(t["sums"]), t["best_valid"], t["elapsed"]
        parts = [np.ascontiguousarray(arrays[f"state.{i}"][:, trainer.rows])  # this rank's (num_layers, B/N, H)
                 for i in range(2) if f"state.{i}" in arrays]
        trainer.state = None if not parts else (tuple(parts) if len(parts) == 2 else parts[0])
        trainer._own_dropout_stream()
        trainer.model.train()
        trainer.log.truncate_after(trainer.step)
        return trainer

    # ------------------------------------------------------------------ the loop

    def _windows(self, streams: np.ndarray, start: int):
        c = self.config
        doc_starts = None
        if self.corpus.train_doc_starts is not None:  # reset each stream's state where a document begins
            doc_starts = batchify(self.corpus.train_doc_starts, streams.shape[0])
        if c.tbptt_k1 is not None:
            return tbptt_windows(streams, k1=c.tbptt_k1, k2=c.tbptt_k2, start=start, doc_starts=doc_starts)
        if c.random_bptt:
            return awd_windows(streams, bptt=c.bptt, rng=self.data_rng, start=start, doc_starts=doc_starts)
        return bptt_windows(streams, bptt=c.bptt, start=start, doc_starts=doc_starts)

    def _train_step(self, w) -> float:
        c, model = self.config, self.model
        model.zero_grad()
        logits, state_end = model.forward(w.x, self.state, resets=w.resets)
        mask = None
        if w.loss_start > 0:
            mask = np.zeros(w.y.shape, dtype=bool)
            mask[:, w.loss_start :] = True
        loss = self.loss.forward(logits, w.y, mask)
        counted = w.length - w.loss_start
        share = w.y.shape[0] / c.batch_size  # this rank's part of the batch (1 on one process)
        # Scaled by the share, the ranks' gradients sum to the gradient of the whole batch's mean loss.
        model.backward(self.loss.backward((float(counted) if c.sum_over_time else 1.0) * share))
        loss = self._allreduce(loss * share)
        grads = model.gradients()
        norm = clip_grad_norm(grads, c.clip) if c.clip else float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads)))
        base_lr = self.optimizer.lr
        if c.random_bptt:
            self.optimizer.lr = base_lr * w.length / c.bptt
        self.optimizer.step()
        self.optimizer.lr = base_lr
        self.state = state_end if w.carry_steps == w.length else model.state_after(w.carry_steps)
        tokens = c.batch_size * counted
        for key in ("epoch", "interval"):
            self.sums[f"{key}_nll"] += loss * tokens
            self.sums[f"{key}_tokens"] += tokens
        return norm

    def _allreduce(self, loss_share: float) -> float:
        """Sum the gradients over the ranks: one in-place allreduce of the one contiguous buffer,
        whose extra slots carry this step's loss and each rank's votes to stop (Ctrl-C, time limit),
        so that all ranks stop after the same step. Returns the whole batch's mean loss."""
        if self.comm.size == 1:
            return loss_share
        limit = self.config.time_limit
        over_time = limit is not None and time.perf_counter() - self._started >= limit
        self.flat.extras[[_LOSS, _STOP_VOTES, _TIME_VOTES]] = (loss_share, self.stop_requested, over_time)
        self.comm.allreduce_sum(self.flat.buffer)
        return float(self.flat.extras[_LOSS])

    def _stop_reason(self) -> str | None:
        """After a step: "interrupted", "stopped" or None. With several ranks only the votes summed
        in this step's allreduce count: a flag one rank saw later would stop the ranks after
        different steps, leaving the others waiting in a collective forever."""
        c = self.config
        if self.comm.size > 1:
            interrupted = self.flat.extras[_STOP_VOTES] > 0
            over_time = self.flat.extras[_TIME_VOTES] > 0
        else:
            interrupted = self.stop_requested
            over_time = c.time_limit is not None and self.elapsed >= c.time_limit
        if interrupted:
            return "interrupted"
        if (c.max_steps is not None and self.step >= c.max_steps) or over_time:
            return "stopped"
        return None

    def fit(self) -> dict:
        """Train until the configured epochs end, ``max_steps``/``time_limit`` is reached or Ctrl-C.

        Returns a summary: ``status`` ("finished", "stopped" or "interrupted"), ``step``, ``epoch``,
        ``valid_ppl`` (best), ``test_ppl`` (when finished with a test split) and file paths.
        """
        c = self.config
        streams = batchify(self.corpus.train, c.batch_size)[self.rows]  # (B/N, n): this rank's streams
        per_epoch = math.ceil((streams.shape[1] - 1) / (c.tbptt_k1 or c.bptt))
        status = "finished"
        started = self._started = time.perf_counter() - self.elapsed
        interval_t0, interval_tokens0 = time.perf_counter(), self.sums["interval_tokens"]
        self.progress.message(f"{self.corpus.summary()}; model {self.model.num_parameters():,} parameters; "
                              f"{per_epoch} steps per epoch")
        with _stop_on_sigint(self):
            while self.epoch <= c.epochs and status == "finished":
                for w in self._windows(streams, self.pos):
                    norm = self._train_step(w)
                    self.pos, self.step = w.end, self.step + 1
                    self.elapsed = time.perf_counter() - started
                    done_in_epoch = math.ceil(self.pos / (c.tbptt_k1 or c.bptt))
                    tok_s = (self.sums["interval_tokens"] - interval_tokens0) / max(time.perf_counter() - interval_t0, 1e-9)
                    ppl = math.exp(min(self.sums["interval_nll"] / max(self.sums["interval_tokens"], 1), 50))
                    self.progress.update(
                        f"epoch {self.epoch}/{c.epochs} {bar(done_in_epoch, per_epoch)} {done_in_epoch}/{per_epoch} "
                        f"loss {math.log(ppl):.3f} ppl {ppl:8.2f} lr {self.optimizer.lr:.4g} "
                        f"|g| {norm:6.2f} {tok_s:8.0f} tok/s")
                    if self.step % c.log_every == 0:
                        self.log.write({"type": "interval", "step": self.step, "epoch": self.epoch,
                                        "train_ppl": ppl, "lr": self.optimizer.lr, "grad_norm": norm,
                                        "tokens_per_s": tok_s, "elapsed": self.elapsed})
                        self.sums["interval_nll"], self.sums["interval_tokens"] = 0.0, 0
                        interval_t0, interval_tokens0 = time.perf_counter(), 0
                    if c.checkpoint_every and self.step % c.checkpoint_every == 0:
                        self.save_checkpoint()
                    fail_for_test(self.comm.rank, self.step)  # test hook, inert unless RNNKIT_TEST_FAIL is set
                    status = self._stop_reason() or status
                    if status != "finished":
                        break
                else:
                    self._end_epoch()
            self.save_checkpoint()
        summary = {"status": status, "step": self.step, "epoch": self.epoch, "elapsed": self.elapsed,
                   "valid_ppl": self.best_valid, "run": str(self.out_dir)}
        if not (self.out_dir / MODEL).exists():  # stopped before the first epoch ended
            self._save_model(None)
        if status == "interrupted":
            self.progress.message(f"interrupted at step {self.step}: checkpoint saved to "
                                  f"{self.out_dir / CHECKPOINT}; continue with: rnnkit train --resume {self.out_dir}")
        elif status == "finished" and self.corpus.test is not None and self.is_root:
            best, _, _ = _load_best(self.out_dir)
            summary["test_ppl"] = perplexity(best, self.corpus.test, batch_size=c.test_batch_size, bptt=c.bptt)
            self.progress.message(f"test perplexity {summary['test_ppl']:.2f} (best validation model)")
        self._plot()
        return summary

    def _end_epoch(self) -> None:
        c = self.config
        train_ppl = math.exp(self.sums["epoch_nll"] / max(self.sums["epoch_tokens"], 1))
        valid_ppl = None
        if self.corpus.valid is not None and self.is_root:
            valid_ppl = perplexity(self.model, self.corpus.valid, batch_size=c.eval_batch_size, bptt=c.bptt)
        valid_ppl = self.comm.broadcast(valid_ppl)  # the schedule and the best-model choice need it everywhere
        record = {"type": "epoch", "step": self.step, "epoch": self.epoch, "train_ppl": train_ppl,
                  "valid_ppl": valid_ppl, "lr": self.optimizer.lr, "elapsed": self.elapsed}
        self.log.write(record)
        self.progress.message(f"epoch {self.epoch}: train ppl {train_ppl:.2f}"
                              + (f", valid ppl {valid_ppl:.2f}" if valid_ppl is not None else "")
                              + f", lr {self.optimizer.lr:.4g}, {self.elapsed:.0f} s")
        self._save_model_if_best(valid_ppl)
        if self.scheduler is not None:
            self.scheduler.step(self.optimizer, epoch=self.epoch, metric=valid_ppl)
        self.epoch += 1
        self.pos, self.state = 0, None
        self.sums["epoch_nll"], self.sums["epoch_tokens"] = 0.0, 0
        self.save_checkpoint()
        self._plot()

    def _save_model_if_best(self, valid_ppl: float | None) -> None:
        if valid_ppl is None or self.best_valid is None or valid_ppl < self.best_valid:
            self.best_valid = valid_ppl
            self._save_model(valid_ppl)

    def _save_model(self, valid_ppl: float | None) -> None:
        if not self.is_root:
            return
        save_language_model(self.out_dir / MODEL, self.model, self.corpus.vocab, level=self.corpus.level,
                            extra={"metrics": {"valid_ppl": valid_ppl, "step": self.step, "epoch": self.epoch},
                                   "data": self.corpus.source})

    def _plot(self) -> None:
        records = self.log.records()
        if records:
            plot_training_curve(records, self.out_dir / CURVE,
                                title=f"{self.model.config.cell.upper()} language model, {self.out_dir.name}")


def _load_best(out_dir: Path):
    from ..io.model_files import load_language_model

    return load_language_model(Path(out_dir) / MODEL)
