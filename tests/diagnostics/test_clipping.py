"""Clipping bounds the global gradient norm exactly, and the per-step traces record it."""

import math

import numpy as np
import pytest

from rnnkit.diagnostics import TaskConfig, global_norm, task_gradient_norms
from rnnkit.optim import clip_grad_norm


@pytest.mark.parametrize("scale", [1e-3, 0.5, 3.0, 1e6])
def test_clip_grad_norm_bounds_the_global_norm_exactly(scale):
    rng = np.random.default_rng(0)
    grads = [scale * rng.standard_normal(s) for s in ((4, 8), (8,), (3, 3, 2))]
    before = [g.copy() for g in grads]
    max_norm = 1.0
    total = clip_grad_norm(grads, max_norm)
    assert total == pytest.approx(math.sqrt(sum((g * g).sum() for g in before)), rel=1e-14)
    if total <= max_norm:
        for g, b in zip(grads, before):
            np.testing.assert_array_equal(g, b)  # untouched, bit for bit
    else:
        coef = max_norm / (total + 1e-6)
        assert global_norm(grads) == pytest.approx(coef * total, rel=1e-13)
        assert global_norm(grads) <= max_norm
        for g, b in zip(grads, before):  # the direction is kept
            np.testing.assert_allclose(g, coef * b, rtol=1e-15)


def test_traces_with_and_without_clipping():
    config = TaskConfig(task="adding", T=12, cell="rnn", hidden_size=16, batch_size=8, seed=3, dtype="float64")
    clip = 0.05  # small enough that clipping acts
    traces = task_gradient_norms(config, steps=15, clip=clip)
    c, u = traces["clipped"], traces["unclipped"]
    assert len(c["norm"]) == len(u["norm"]) == 15
    assert c["norm"][0] == u["norm"][0]  # same weights and batch at step 1
    assert max(c["norm"]) > clip
    for norm, applied in zip(c["norm"], c["applied"]):
        assert applied <= clip
        expected = norm if norm <= clip else clip * norm / (norm + 1e-6)
        assert applied == pytest.approx(expected, rel=1e-12)
    assert u["applied"] == u["norm"]
