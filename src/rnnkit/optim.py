"""Optimisers, gradient clipping and learning-rate schedules.

Optimisers see a model only through the layer contract (:class:`rnnkit.nn.base.Layer`):
``model.named_parameters()`` yields ``(name, param, grad)`` once per array, shared (tied) arrays
once. Every update is *in place* (``param -= ...``), never a rebinding, so tied weights stay one
array and the model's ``params`` dicts keep pointing at the arrays that are trained.

The update rules are those of ``torch.optim.SGD`` and ``torch.optim.Adam`` (no dampening, no
Nesterov, no AMSGrad) and ``torch.nn.utils.clip_grad_norm_``; the tests check parity with PyTorch.

Checkpointing: ``optimizer.state_dict()`` returns ``(arrays, meta)`` — the per-parameter buffers
keyed ``"<param name>.<slot>"`` and a JSON-able dict of hyperparameters and the step count — which
is exactly what :func:`rnnkit.io.checkpoint.save_checkpoint` stores. Schedules return plain
JSON-able dicts.

Schedule interface: call ``lr = sched.step(optimizer, epoch=e, metric=val_loss)`` once at the *end*
of epoch ``e`` (1-based). It sets ``optimizer.lr`` for the next epoch and returns it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

from rnnkit.nn import fastpath, packed
from rnnkit.nn.blas import single_threaded
from rnnkit.nn.base import Layer

__all__ = [
    "SGD",
    "Adam",
    "clip_grad_norm",
    "StepDecay",
    "ReduceOnPlateau",
]


def _add_scaled(param: np.ndarray, a: float, d: np.ndarray) -> None:
    """``param += a * d`` in place: a large float32 array on two cores (``packed.axpby``), a smaller one
    in one compiled pass (NumPy's ``param -= lr * d`` makes and fills a temporary the size of each
    parameter first)."""
    if packed.axpby(param, a, d):
        return
    if fastpath.active(param.dtype) and d.dtype == param.dtype and param.flags.c_contiguous and d.flags.c_contiguous:
        fastpath.get("add_scaled")(param.reshape(-1), a, d.reshape(-1))
    else:
        param += a * d


class _HasLR(Protocol):
    lr: float


def _check_nonnegative(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{owner}: {name} must be a finite number >= 0, got {value!r}")


class _Optimizer:
    """Shared bookkeeping: the parameter list, the lr and the state-dict plumbing."""

    _slots: tuple[str, ...] = ()  # names of per-parameter buffers, e.g. ("exp_avg", "exp_avg_sq")

    def __init__(self, model: Layer, *, lr: float) -> None:
        _check_nonnegative(type(self).__name__, lr=lr)
        self._params: list[tuple[str, np.ndarray, np.ndarray]] = list(model.named_parameters())
        for name, param, grad in self._params:
            if not np.issubdtype(param.dtype, np.floating):
                raise TypeError(
                    f"{type(self).__name__}: parameter '{name}' has dtype {param.dtype}; "
                    "only floating-point parameters can be optimised"
                )
            if grad.shape != param.shape:
                raise ValueError(
                    f"{type(self).__name__}: gradient of '{name}' has shape {grad.shape}, "
                    f"expected the parameter's shape {param.shape}"
                )
        self.lr = float(lr)
        self.step_count = 0
        # state[slot][param name] -> buffer with the parameter's shape and dtype
        self.state: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self._slots}

    def _hyperparameters(self) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def _set_hyperparameters(self, meta: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Return ``(arrays, meta)``: copies of the buffers keyed ``"<param>.<slot>"`` and a
        JSON-able dict with the optimiser type, hyperparameters (``lr`` included, as decayed by a
        schedule) and ``step``."""
        arrays = {
            f"{name}.{slot}": buf.copy()
            for slot, bufs in self.state.items()
            for name, buf in bufs.items()
        }
        meta = {"type": type(self).__name__, "step": self.step_count, **self._hyperparameters()}
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Restore buffers, step count and hyperparameters (as ``torch`` does, the saved
        hyperparameters replace the constructor's). Buffers are copied into fresh arrays of the
        parameters' dtype."""
        kind = type(self).__name__
        if meta.get("type") != kind:
            raise ValueError(
                f"{kind}.load_state_dict: the state was saved by optimiser {meta.get('type')!r}, "
                f"not {kind}; build the same optimiser type as the run that saved it"
            )
        shapes = {name: param for name, param, _ in self._params}
        state: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self._slots}
        unexpected = []
        for key, value in arrays.items():
            name, _, slot = key.rpartition(".")
            if slot not in state or name not in shapes:
                unexpected.append(key)
                continue
            value = np.asarray(value)
            if value.shape != shapes[name].shape:
                raise ValueError(
                    f"{kind}.load_state_dict: '{key}' has shape {value.shape}, expected the "
                    f"parameter's shape {shapes[name].shape}; was the model built differently?"
                )
            state[slot][name] = value.astype(shapes[name].dtype, copy=True)
        if unexpected:
            raise KeyError(
                f"{kind}.load_state_dict: arrays {sorted(unexpected)[:10]} match no parameter "
                f"and slot of this optimiser (parameters: {sorted(shapes)[:10]}, "
                f"slots: {list(self._slots)})"
            )
        step = meta.get("step")
        if not isinstance(step, int) or step < 0:
            raise ValueError(
                f"{kind}.load_state_dict: meta['step'] must be an int >= 0, got {step!r}"
            )
        self._set_hyperparameters(meta)
        if step > 0:
            missing = [
                f"{n}.{s}" for s in self._active_slots() for n in shapes if n not in state[s]
            ]
            if missing:
                raise KeyError(
                    f"{kind}.load_state_dict: the state is at step {step} but lacks the buffers "
                    f"{missing[:10]} ({len(missing)} in all); the arrays and meta must come from "
                    "the same state_dict() call"
                )
        self.step_count = step
        self.state = state

    def _active_slots(self) -> tuple[str, ...]:
        """The slots every parameter has a buffer for once a step has been taken."""
        return self._slots


class SGD(_Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay.

    Same rule as ``torch.optim.SGD`` (``dampening=0``, ``nesterov=False``)::

        d = grad + weight_decay * param
        buf = d                      (first step)
        buf = momentum * buf + d     (later steps)      # only when momentum > 0
        param -= lr * (buf if momentum > 0 else d)

    Plain SGD (``momentum=0``) keeps no state.
    """

    _slots = ("momentum_buffer",)

    def __init__(
        self, model: Layer, *, lr: float, momentum: float = 0.0, weight_decay: float = 0.0
    ) -> None:
        super().__init__(model, lr=lr)
        _check_nonnegative("SGD", momentum=momentum, weight_decay=weight_decay)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)

    def step(self) -> None:
        """Update every parameter in place from its current gradient."""
        bufs = self.state["momentum_buffer"]
        for name, param, grad in self._params:
            d = grad + self.weight_decay * param if self.weight_decay else grad
            if self.momentum:
                buf = bufs.get(name)
                if buf is None:
                    buf = bufs[name] = np.array(d, dtype=param.dtype, copy=True)
                else:
                    buf *= self.momentum
                    buf += d
                d = buf
            _add_scaled(param, -self.lr, d)
        self.step_count += 1

    def _active_slots(self) -> tuple[str, ...]:
        return self._slots if self.momentum else ()

    def _hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay}

    def _set_hyperparameters(self, meta: dict[str, Any]) -> None:
        self.lr = float(meta["lr"])
        self.momentum = float(meta["momentum"])
        self.weight_decay = float(meta["weight_decay"])


class Adam(_Optimizer):
    """Adam (Kingma & Ba 2015) with L2 weight decay added to the gradient (not AdamW).

    Same rule as ``torch.optim.Adam`` (``amsgrad=False``), with ``t`` the step count after the
    increment::

        g = grad + weight_decay * param
        m = m + (1 - beta1) * (g - m)                  # exp_avg    (torch: lerp)
        v = beta2 * v + (1 - beta2) * g * g            # exp_avg_sq
        param -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Note where ``eps`` sits: it is added after the bias correction of ``sqrt(v)``, as in torch.
    """

    _slots = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        model: Layer,
        *,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(model, lr=lr)
        beta1, beta2 = betas
        for i, beta in enumerate((beta1, beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Adam: betas[{i}] must lie in [0, 1), got {beta!r}")
        _check_nonnegative("Adam", eps=eps, weight_decay=weight_decay)
        self.betas = (float(beta1), float(beta2))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)

    def step(self) -> None:
        """Update every parameter in place from its current gradient."""
        beta1, beta2 = self.betas
        self.step_count += 1
        t = self.step_count
        step_size = self.lr / (1.0 - beta1**t)
        bias_correction2_sqrt = math.sqrt(1.0 - beta2**t)
        exp_avg, exp_avg_sq = self.state["exp_avg"], self.state["exp_avg_sq"]
        for name, param, grad in self._params:
            g = grad + self.weight_decay * param if self.weight_decay else grad
            if name not in exp_avg:
                exp_avg[name] = np.zeros_like(param)
                exp_avg_sq[name] = np.zeros_like(param)
            m, v = exp_avg[name], exp_avg_sq[name]
            m += (1.0 - beta1) * (g - m)
            v *= beta2
            v += (1.0 - beta2) * (g * g)
            denom = np.sqrt(v) / bias_correction2_sqrt + self.eps
            param -= step_size * (m / denom)

    def _hyperparameters(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "betas": list(self.betas),
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }

    def _set_hyperparameters(self, meta: dict[str, Any]) -> None:
        self.lr = float(meta["lr"])
        beta1, beta2 = meta["betas"]
        self.betas = (float(beta1), float(beta2))
        self.eps = float(meta["eps"])
        self.weight_decay = float(meta["weight_decay"])


def clip_grad_norm(
    grads: Iterable[np.ndarray], max_norm: float, *, error_if_nonfinite: bool = False
) -> float:
    """Scale gradients in place so that their global L2 norm is at most ``max_norm``.

    Same rule as ``torch.nn.utils.clip_grad_norm_`` (``norm_type=2``)::

        total = sqrt(sum_i ||g_i||^2)
        coef = max_norm / (total + 1e-6)
        g_i *= coef            # only when coef < 1

    Each gradient's squared norm is one BLAS dot product in its own dtype (as torch takes each
    tensor's norm in its dtype; a float64 copy of every gradient cost more than the rest of the
    clipping), or for a large float32 gradient a pass on two cores (``packed.sum_squares``), and the
    per-tensor sums add up in float64; the scaling happens in each gradient's own dtype, so a float32
    gradient stays float32. Returns ``total`` (before clipping).
    With ``error_if_nonfinite=True`` a NaN or infinite norm raises ``ValueError`` instead of
    spreading NaN into every gradient (torch's behaviour, and the default here too).
    """
    grads = list(grads)
    if not (isinstance(max_norm, (int, float)) and max_norm > 0):
        raise ValueError(f"clip_grad_norm: max_norm must be a number > 0, got {max_norm!r}")
    squares, rest = 0.0, []
    for g in grads:
        square = packed.sum_squares(g)
        if square is None:
            rest.append(g)
        else:
            squares += square
    with single_threaded():  # memory-bound; OpenBLAS's threads would spin on into the next step
        for g in rest:
            flat = g.reshape(-1)
            squares += float(np.dot(flat, flat))
    total = math.sqrt(squares)
    if error_if_nonfinite and not math.isfinite(total):
        raise ValueError(
            f"clip_grad_norm: the total gradient norm is {total}; the loss or the model diverged. "
            "Lower the learning rate, check the input data, or pass error_if_nonfinite=False."
        )
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # also true for a NaN coef, which torch multiplies in as well
        for g in grads:
            if not packed.axpby(g, 0.0, None, coef):
                g *= g.dtype.type(coef)
    return total


class StepDecay:
    """Zaremba et al. (2014) schedule: keep the lr for the first ``start_epoch`` epochs, then
    multiply it by ``factor`` at the end of every epoch from epoch ``start_epoch`` on.

    The lr used during epoch ``e`` (1-based) is ``lr0 * factor ** max(0, e - start_epoch)``
    (:meth:`lr_for_epoch`) — the TensorFlow PTB tutorial's
    ``lr_decay ** max(i + 1 - max_epoch, 0)`` with ``i = e - 1``. The paper's medium model:
    ``start_epoch=6, factor=0.5``; large model: ``start_epoch=14, factor=1/1.15``.

    ``step(optimizer, epoch=e)`` is called at the end of epoch ``e`` and multiplies
    ``optimizer.lr`` when ``e >= start_epoch``; epochs must increase between calls.
    """

    def __init__(self, *, start_epoch: int, factor: float) -> None:
        if not isinstance(start_epoch, int) or start_epoch < 1:
            raise ValueError(f"StepDecay: start_epoch must be an int >= 1, got {start_epoch!r}")
        if not 0.0 < factor <= 1.0:
            raise ValueError(
                f"StepDecay: factor multiplies the lr and must lie in (0, 1], got {factor!r} "
                "(to divide by 1.15, pass factor=1/1.15)"
            )
        self.start_epoch = start_epoch
        self.factor = float(factor)
        self.last_epoch = 0

    def lr_for_epoch(self, base_lr: float, epoch: int) -> float:
        """The lr used during epoch ``epoch`` (1-based) when training started at ``base_lr``."""
        return base_lr * self.factor ** max(0, epoch - self.start_epoch)

    def step(self, optimizer: _HasLR, *, epoch: int, metric: float | None = None) -> float:
        """End of epoch ``epoch``: set and return the lr for the next epoch (``metric`` unused)."""
        _check_epoch("StepDecay", epoch, self.last_epoch)
        self.last_epoch = epoch
        if epoch >= self.start_epoch:
            optimizer.lr *= self.factor
        return optimizer.lr

    def state_dict(self) -> dict[str, Any]:
        return {
            "type": "StepDecay",
            "start_epoch": self.start_epoch,
            "factor": self.factor,
            "last_epoch": self.last_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_type("StepDecay", state)
        self.start_epoch = int(state["start_epoch"])
        self.factor = float(state["factor"])
        self.last_epoch = int(state["last_epoch"])


class ReduceOnPlateau:
    """Multiply the lr by ``factor`` when the validation metric (lower is better) stops improving.

    Same rule as ``torch.optim.lr_scheduler.ReduceLROnPlateau(mode="min", threshold_mode="rel",
    cooldown=0, min_lr=0, eps=0)``: a metric improves when ``metric < best * (1 - threshold)``;
    after more than ``patience`` epochs in a row without improvement the lr is multiplied by
    ``factor`` and the count restarts. The defaults (``factor=0.25, patience=0``) are PyTorch's
    word-language-model example: divide the lr by 4 whenever validation loss does not improve.
    A NaN metric counts as no improvement.
    """

    def __init__(self, *, factor: float = 0.25, patience: int = 0, threshold: float = 0.0) -> None:
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceOnPlateau: factor must lie in (0, 1), got {factor!r}")
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"ReduceOnPlateau: patience must be an int >= 0, got {patience!r}")
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"ReduceOnPlateau: threshold must lie in [0, 1), got {threshold!r}")
        self.factor = float(factor)
        self.patience = patience
        self.threshold = float(threshold)
        self.best: float | None = None  # None: no metric seen yet (JSON has no infinity)
        self.num_bad_epochs = 0
        self.last_epoch = 0

    def step(self, optimizer: _HasLR, *, epoch: int, metric: float | None = None) -> float:
        """End of epoch ``epoch``: record ``metric``, set and return the lr for the next epoch."""
        if metric is None:
            raise ValueError(
                "ReduceOnPlateau.step needs metric= (e.g. the validation loss of this epoch)"
            )
        _check_epoch("ReduceOnPlateau", epoch, self.last_epoch)
        self.last_epoch = epoch
        metric = float(metric)
        if self.best is None or metric < self.best * (1.0 - self.threshold):
            self.best = metric
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.num_bad_epochs > self.patience:
            optimizer.lr *= self.factor
            self.num_bad_epochs = 0
        return optimizer.lr

    def state_dict(self) -> dict[str, Any]:
        return {
            "type": "ReduceOnPlateau",
            "factor": self.factor,
            "patience": self.patience,
            "threshold": self.threshold,
            "best": self.best,
            "num_bad_epochs": self.num_bad_epochs,
            "last_epoch": self.last_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_type("ReduceOnPlateau", state)
        self.factor = float(state["factor"])
        self.patience = int(state["patience"])
        self.threshold = float(state["threshold"])
        self.best = None if state["best"] is None else float(state["best"])
        self.num_bad_epochs = int(state["num_bad_epochs"])
        self.last_epoch = int(state["last_epoch"])


def _check_epoch(owner: str, epoch: int, last_epoch: int) -> None:
    if not isinstance(epoch, int) or epoch <= last_epoch:
        raise ValueError(
            f"{owner}.step: epoch must be an int greater than the last one ({last_epoch}), got "
            f"{epoch!r}; call step once at the end of each epoch (after a resume, do not repeat "
            "the epoch the checkpoint was saved after)"
        )


def _check_type(owner: str, state: dict[str, Any]) -> None:
    if state.get("type") != owner:
        raise ValueError(
            f"{owner}.load_state_dict: the state belongs to schedule {state.get('type')!r}, "
            f"not {owner}"
        )
