"""Initialisers. Every one takes its random generator as an argument; none touches global state."""

from __future__ import annotations

import numpy as np


def uniform(shape: tuple[int, ...], bound: float, rng: np.random.Generator, dtype) -> np.ndarray:
    """U(-bound, bound): PyTorch's default for recurrent layers uses ``bound = 1/sqrt(hidden)``."""
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def orthogonal(shape: tuple[int, int], rng: np.random.Generator, dtype) -> np.ndarray:
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian (Saxe et al. 2014)."""
    rows, cols = shape
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))  # make the decomposition unique, so q is Haar-distributed
    if rows < cols:
        q = q.T
    return q.astype(dtype)


def glorot_uniform(shape: tuple[int, int], rng: np.random.Generator, dtype) -> np.ndarray:
    """U(-a, a) with ``a = sqrt(6 / (fan_in + fan_out))`` (Keras's default for input kernels)."""
    bound = np.sqrt(6.0 / (shape[0] + shape[1]))
    return uniform(shape, bound, rng, dtype)


INIT_SCHEMES = ("uniform", "orthogonal")


def recurrent_weights(
    *,
    input_size: int,
    hidden_size: int,
    n_gates: int,
    scheme: str,
    scale: float | None,
    rng: np.random.Generator,
    dtype,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``W_x (input, G*H)``, ``W_h (H, G*H)``, ``b (G*H,)`` for a cell with ``G`` gates.

    ``"uniform"``: every entry U(-s, s) with ``s = scale or 1/sqrt(H)`` (PyTorch's default; Zaremba
    et al. use ``scale=0.1``). ``"orthogonal"``: each gate's block of ``W_h`` orthogonal, ``W_x``
    Glorot-uniform and ``b`` zero (Keras's default).
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {INIT_SCHEMES}, got {scheme!r}")
    G, H = n_gates, hidden_size
    if scheme == "uniform":
        bound = scale if scale is not None else 1.0 / np.sqrt(H)
        W_x = uniform((input_size, G * H), bound, rng, dtype)
        W_h = uniform((H, G * H), bound, rng, dtype)
        b = uniform((G * H,), bound, rng, dtype)
    else:
        W_x = glorot_uniform((input_size, G * H), rng, dtype)
        W_h = np.concatenate([orthogonal((H, H), rng, dtype) for _ in range(G)], axis=1)
        b = np.zeros(G * H, dtype=dtype)
    return W_x, W_h, b
