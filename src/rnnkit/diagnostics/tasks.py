"""Long-memory tasks: the adding problem and the copy-memory task, and a trainer for them.

Both tasks have a *trivial baseline* that a model reaches without remembering anything; a model
that learns the long-range dependency goes below it, one that cannot stays on it.

**Adding problem** (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015 and Arjovsky et al.
2016). Input ``x (B, T, 2)``: channel 0 holds numbers drawn from U(0, 1), channel 1 marks exactly two
steps with 1 (one in each half of the sequence), zeros elsewhere. The target ``y (B,)`` is the sum of
the two marked numbers. Answering the constant 1 (the target's mean) gives the MSE
``Var(u1 + u2) = 2 * 1/12 = 1/6 ~ 0.167``: the baseline.

**Copy-memory task** (Arjovsky et al. 2016). Symbols ``0`` blank, ``1..8`` data, ``9`` delimiter.
Input ids ``(B, T + 20)``: 10 data symbols drawn uniformly from ``1..8``, then ``T - 1`` blanks, the
delimiter, 10 blanks. Target ids ``(B, T + 20)``: ``T + 10`` blanks, then the 10 data symbols. The
memoryless strategy (blanks, then a uniform guess among the 8 symbols for the last 10 steps) has the
cross-entropy per step ``10 log(8) / (T + 20)``: the baseline.

Shapes: ``B`` batch, ``T`` the task's length parameter (the number of steps to remember across).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from ..nn import GRU, LSTM, MSE, RNN, Layer, Linear, SoftmaxCrossEntropy
from ..optim import Adam, clip_grad_norm

TASKS = ("adding", "copy")
CELLS = ("rnn", "lstm", "gru")
COPY_SYMBOLS = 10  # 0 blank, 1..8 data, 9 delimiter
COPY_CLASSES = 9  # targets are blank or a data symbol, never the delimiter
COPY_DATA = 8
COPY_LENGTH = 10  # symbols to remember


def _check_length(name: str, T: int, minimum: int) -> None:
    if not isinstance(T, (int, np.integer)) or T < minimum:
        raise ValueError(f"{name} expected the sequence length T to be an integer >= {minimum}, got {T!r}")


def adding_batch(batch_size: int, T: int, *, rng: np.random.Generator, dtype=np.float32
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One batch of the adding problem: ``x (B, T, 2)`` and the targets ``y (B,)`` (see module doc)."""
    _check_length("adding_batch", T, 2)
    B = batch_size
    x = np.zeros((B, T, 2), dtype=dtype)
    x[:, :, 0] = rng.uniform(0.0, 1.0, size=(B, T))
    half = T // 2
    first = rng.integers(0, half, size=B)  # one marker in [0, T/2) ...
    second = rng.integers(half, T, size=B)  # ... and one in [T/2, T)
    rows = np.arange(B)
    x[rows, first, 1] = 1
    x[rows, second, 1] = 1
    y = (x[rows, first, 0] + x[rows, second, 0]).astype(dtype)
    return x, y


def adding_baseline() -> float:
    """MSE of always answering 1: the variance of the sum of two U(0, 1) numbers, ``1/6``."""
    return 2.0 / 12.0


def copy_batch(batch_size: int, T: int, *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One batch of the copy-memory task: input ids and target ids, both ``(B, T + 20)`` int64."""
    _check_length("copy_batch", T, 1)
    B, L = batch_size, T + 2 * COPY_LENGTH
    data = rng.integers(1, COPY_DATA + 1, size=(B, COPY_LENGTH))
    ids = np.zeros((B, L), dtype=np.int64)
    ids[:, :COPY_LENGTH] = data
    ids[:, COPY_LENGTH + T - 1] = COPY_SYMBOLS - 1  # the delimiter: "now write what you saw"
    targets = np.zeros((B, L), dtype=np.int64)
    targets[:, -COPY_LENGTH:] = data
    return ids, targets


def copy_baseline(T: int) -> float:
    """Cross-entropy per step of the memoryless strategy, ``10 log(8) / (T + 20)`` (Arjovsky et al.)."""
    _check_length("copy_baseline", T, 1)
    return COPY_LENGTH * math.log(COPY_DATA) / (T + 2 * COPY_LENGTH)


@dataclass(frozen=True)
class TaskConfig:
    """One training run on a long-memory task. Defaults follow the calibration of issue 6
    (1 layer of 128, Adam 1e-3, batch 50, clip 1, a fresh batch every step).

    ``max_steps`` and ``time_limit`` (seconds) bound the run; ``stop_below`` ends it early once the
    running mean of the training loss over ``window`` steps is below that value (None: never).
    ``clip=None`` trains without clipping (the gradient norm is still recorded).
    """

    task: str = "adding"
    T: int = 100
    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    batch_size: int = 50
    lr: float = 1e-3
    clip: float | None = 1.0
    forget_bias: float | None = None
    init: str = "uniform"
    max_steps: int = 1000
    time_limit: float | None = None
    stop_below: float | None = None
    window: int = 50
    eval_batch_size: int = 1000
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        _check_length(f"the {self.task} task", self.T, 2 if self.task == "adding" else 1)
        if self.max_steps < 1 or self.window < 1 or self.batch_size < 1:
            raise ValueError("max_steps, window and batch_size must be >= 1, got "
                             f"{self.max_steps}, {self.window}, {self.batch_size}")
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"clip must be > 0 or None (no clipping), got {self.clip!r}")

    @property
    def baseline(self) -> float:
        return adding_baseline() if self.task == "adding" else copy_baseline(self.T)


class TaskModel(Layer):
    """A recurrent stack and a linear read-out: ``core`` then ``head``.

    Adding: ``x (B, T, 2)`` -> ``y_hat (B,)``, read from the last step's hidden state.
    Copy: ``ids (B, L)`` one-hot encoded -> ``logits (B, L, 9)`` at every step.
    """

    def __init__(self, config: TaskConfig, *, rng: np.random.Generator) -> None:
        super().__init__()
        self.task = config.task
        dtype = np.dtype(config.dtype)
        self.dtype = dtype
        I = 2 if config.task == "adding" else COPY_SYMBOLS
        kwargs = dict(num_layers=config.num_layers, dtype=dtype, init=config.init, rng=rng)
        if config.cell == "lstm":
            core = LSTM(I, config.hidden_size, forget_bias=config.forget_bias, **kwargs)
        elif config.forget_bias is not None:
            raise ValueError(f"forget_bias applies to the LSTM only, not {config.cell!r}; drop it")
        else:
            core = (GRU if config.cell == "gru" else RNN)(I, config.hidden_size, **kwargs)
        self.core = self.add_child("core", core)
        out = 1 if config.task == "adding" else COPY_CLASSES
        self.head = self.add_child("head", Linear(config.hidden_size, out, dtype=dtype, rng=rng))

    def inputs(self, data: np.ndarray) -> np.ndarray:
        """The core's input ``(B, L, I)``: the adding inputs as they are, copy ids one-hot."""
        if self.task == "adding":
            return np.asarray(data, dtype=self.dtype)
        return np.eye(COPY_SYMBOLS, dtype=self.dtype)[data]

    def forward(self, data: np.ndarray) -> np.ndarray:
        h, _ = self.core.forward(self.inputs(data))  # (B, L, H)
        self._B, self._L, self._H = h.shape
        if self.task == "adding":
            return self.head.forward(h[:, -1])[:, 0]  # (B,)
        return self.head.forward(h)  # (B, L, 9)

    def backward(self, dout: np.ndarray) -> None:
        B, L, H = self._B, self._L, self._H
        dh = np.zeros((B, L, H), dtype=self.dtype)
        if self.task == "adding":
            dh[:, -1] = self.head.backward(dout[:, None])
        else:
            dh[:] = self.head.backward(dout)
        self.core.backward(dh)


def global_norm(grads) -> float:
    """``sqrt(sum_i ||g_i||^2)`` over the gradient arrays, accumulated in float64."""
    total = 0.0
    for g in grads:
        flat = g.reshape(-1).astype(np.float64, copy=False)
        total += float(np.dot(flat, flat))
    return math.sqrt(total)


def batch_for(config: TaskConfig, batch_size: int, rng: np.random.Generator):
    if config.task == "adding":
        return adding_batch(batch_size, config.T, rng=rng, dtype=np.dtype(config.dtype))
    return copy_batch(batch_size, config.T, rng=rng)


def loss_fn(config: TaskConfig):
    return MSE() if config.task == "adding" else SoftmaxCrossEntropy()


def evaluate(model: TaskModel, config: TaskConfig, *, rng: np.random.Generator) -> float:
    """Loss on ``eval_batch_size`` fresh sequences (in chunks of at most 250)."""
    total, count, left = 0.0, 0, config.eval_batch_size
    while left > 0:
        n = min(left, 250)
        data, target = batch_for(config, n, rng)
        total += loss_fn(config).forward(model.forward(data), target) * n
        count, left = count + n, left - n
    return total / count


@dataclass
class TaskResult:
    """What a run measured. ``loss[i]`` and ``grad_norm[i]`` belong to step ``i + 1``: the training
    loss on that step's fresh batch (before its update, so an unbiased estimate of the test loss)
    and the global gradient norm before clipping. ``clipped_norm`` is the norm after clipping.
    ``solved_step``: the first step at which the running mean over ``window`` steps fell below
    ``stop_below`` (None if it never did)."""

    config: dict
    baseline: float
    steps: int = 0
    seconds: float = 0.0
    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    clipped_norm: list[float] = field(default_factory=list)
    solved_step: int | None = None
    solved_seconds: float | None = None
    final_loss: float | None = None
    stopped: str = ""
    model: TaskModel | None = field(default=None, repr=False)  # the trained model, not serialised

    def running_mean(self, window: int | None = None) -> np.ndarray:
        w = window or self.config["window"]
        x = np.asarray(self.loss, dtype=np.float64)
        c = np.cumsum(np.insert(x, 0, 0.0))
        n = np.minimum(np.arange(1, x.size + 1), w)
        return (c[1:] - c[np.arange(1, x.size + 1) - n]) / n

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}


def train_task(config: TaskConfig, *, on_step: Callable[[int, float, float], None] | None = None
               ) -> TaskResult:
    """Train a fresh ``TaskModel`` with Adam on fresh batches; see ``TaskResult`` for what comes back.

    The model, batches and evaluation draw from generators seeded by ``config.seed`` (model and data
    from separate streams, so two cells with one seed see the same data). ``on_step(step, loss,
    grad_norm)`` is called after every step (progress display).
    """
    seeds = np.random.SeedSequence(config.seed).spawn(3)
    model_rng, data_rng, eval_rng = (np.random.default_rng(s) for s in seeds)
    model = TaskModel(config, rng=model_rng)
    opt = Adam(model, lr=config.lr)
    grads = model.gradients()
    result = TaskResult(config=asdict(config), baseline=config.baseline)
    start = time.perf_counter()
    step = 0
    result.stopped = "max_steps"
    while step < config.max_steps:
        data, target = batch_for(config, config.batch_size, data_rng)
        model.zero_grad()
        crit = loss_fn(config)
        loss = crit.forward(model.forward(data), target)
        model.backward(crit.backward())
        if config.clip is not None:
            norm = clip_grad_norm(grads, config.clip)
            clipped = global_norm(grads)
        else:
            norm = clipped = global_norm(grads)
        if not math.isfinite(norm):
            result.stopped = "diverged"
            break
        opt.step()
        step += 1
        result.loss.append(float(loss))
        result.grad_norm.append(float(norm))
        result.clipped_norm.append(float(clipped))
        if on_step is not None:
            on_step(step, float(loss), float(norm))
        if config.stop_below is not None and step >= config.window and result.solved_step is None:
            recent = float(np.mean(result.loss[-config.window:]))
            if recent < config.stop_below:
                result.solved_step = step
                result.solved_seconds = time.perf_counter() - start
                result.stopped = "solved"
                break
        if config.time_limit is not None and time.perf_counter() - start >= config.time_limit:
            result.stopped = "time_limit"
            break
    result.steps = step
    result.seconds = time.perf_counter() - start
    model.eval()
    result.final_loss = evaluate(model, config, rng=eval_rng)
    result.model = model
    return result
