"""Diagnostics: see vanishing and exploding gradients, and test long memory.

- ``gradient_flow``: ``||dL_t/dh_{t-k}||`` against the lag, through a layer's own backward pass.
- ``spectrum``, ``activation_stats``: singular values of ``W_h``; ``tanh'`` and gate distributions.
- ``task_gradient_norms``, ``lm_gradient_norms``: the gradient norm per step, clipped and not.
- ``diagnose_fresh``, ``diagnose_language_model``: all of the above as one JSON-able report;
  ``summary_text`` and ``write_report`` (JSON, text, PNG) — what ``rnnkit diagnose`` prints and writes.
- ``tasks``: the adding problem and the copy-memory task, with ``train_task``.
"""

from .anatomy import activation_stats, activations, spectrum
from .flow import FlowCurve, gradient_flow, random_probes, steps_per_decade
from .gradnorm import global_norm, lm_gradient_norms, task_gradient_norms
from .layers import LayerView, find_core, step_states, unstack
from .report import diagnose_fresh, diagnose_language_model, diagnose_layers, summary_text, write_report
from .tasks import (TaskConfig, TaskModel, TaskResult, adding_baseline, adding_batch, copy_baseline, copy_batch,
                    train_task)

__all__ = [
    "gradient_flow", "FlowCurve", "random_probes", "steps_per_decade", "spectrum", "activations",
    "activation_stats", "global_norm", "task_gradient_norms", "lm_gradient_norms", "LayerView", "find_core",
    "step_states", "unstack", "diagnose_fresh", "diagnose_language_model", "diagnose_layers", "summary_text",
    "write_report", "TaskConfig", "TaskModel", "TaskResult", "adding_batch", "adding_baseline", "copy_batch",
    "copy_baseline", "train_task",
]
