"""Shared test tools: finite differences, torch conversion, relative error."""

from __future__ import annotations

import numpy as np


def numeric_grad(loss_fn, arr: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of ``loss_fn()`` w.r.t. every entry of ``arr`` (perturbed in place)."""
    grad = np.zeros_like(arr, dtype=np.float64)
    flat, gflat = arr.reshape(-1), grad.reshape(-1)
    assert np.shares_memory(flat, arr), "arr must be contiguous so that perturbations reach it"
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = loss_fn()
        flat[i] = old - eps
        down = loss_fn()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def rel_err(actual, expected) -> float:
    """``max |actual - expected| / max |expected|``: the error relative to the array's scale."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(np.abs(expected).max(initial=0.0), 1e-30)
    return float(np.abs(actual - expected).max(initial=0.0) / scale)


def to_numpy_state_dict(module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}
