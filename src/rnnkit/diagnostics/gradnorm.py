"""The global gradient norm per training step, with and without clipping.

Exploding gradients show up as spikes of the global norm ``sqrt(sum_i ||g_i||^2)`` over all
parameters; clipping (``rnnkit.optim.clip_grad_norm``, Pascanu et al. 2013) rescales the gradient to
at most ``max_norm`` before the update. Each trace trains its own copy of the model twice from the
same start, once clipped and once not, and records the norm before clipping (``norm``) and the norm
of the gradient actually applied (``applied``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np

from ..nn import SoftmaxCrossEntropy
from ..optim import Adam, clip_grad_norm
from .tasks import TaskConfig, global_norm, train_task


def task_gradient_norms(config: TaskConfig, *, steps: int, clip: float) -> dict:
    """Train ``config``'s model for ``steps`` steps clipped at ``clip`` and unclipped, from the same
    seed (same initial weights and batches). Returns ``{"clipped": trace, "unclipped": trace}``,
    each ``{"norm", "applied", "loss"}`` per step."""
    out = {}
    for key, c in (("clipped", clip), ("unclipped", None)):
        r = train_task(replace(config, max_steps=steps, clip=c, time_limit=None, stop_below=None))
        out[key] = {"clip": c, "norm": r.grad_norm, "applied": r.clipped_norm, "loss": r.loss}
    return out


def lm_gradient_norms(model, ids: np.ndarray, *, steps: int, clip: float, lr: float = 1e-3) -> dict:
    """The same two traces for a language model trained with Adam on next-token prediction of the
    batch ``ids (B, T + 1)`` (the same batch every step; the model itself is left untouched)."""
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.shape[1] < 2:
        raise ValueError(f"expected token ids of shape (batch, time + 1) with time >= 1, got {ids.shape}")
    out = {}
    for key, c in (("clipped", clip), ("unclipped", None)):
        m = copy.deepcopy(model)
        m.train()
        opt = Adam(m, lr=lr)
        grads = m.gradients()
        trace = {"clip": c, "norm": [], "applied": [], "loss": []}
        for _ in range(steps):
            m.zero_grad()
            crit = SoftmaxCrossEntropy()
            logits, _ = m.forward(ids[:, :-1])
            loss = crit.forward(logits, ids[:, 1:])
            m.backward(crit.backward())
            norm = clip_grad_norm(grads, c) if c is not None else global_norm(grads)
            trace["norm"].append(float(norm))
            trace["applied"].append(global_norm(grads))
            trace["loss"].append(float(loss))
            if not math.isfinite(norm):
                break
            opt.step()
        out[key] = trace
    return out
