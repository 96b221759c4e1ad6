"""Whether float32 work runs through the fused, compiled kernels (``kernels.py``) or through NumPy.

Why: between its two matrix products a step runs ~10-20 NumPy ufunc calls over ``(B, H)`` blocks.
Each call costs ~1 us to dispatch (at batch 1 that is most of the step) and a pass over memory, and
NumPy's float32 ``tanh`` takes ~2.7 ns per element on this CPU (no AVX-512). One compiled loop per
step does the same work in one pass with a vectorised ``tanh``.

What made Numba vectorise the loops (each found by timing): ``error_model="numpy"`` (no
division-by-zero branch); no call to libm's ``tanhf`` or ``expf`` per element (``kernels.tanh32``,
``softmax_exps``); views that start at 0 rather than offset indices (``g = a[2H:3H]; g[j]``, not
``a[2H + j]``: the LSTM's activation ran 2-4x faster); in-place work on one array rather than an output
that may alias the input (the RNN's ``tanh``: 5 ns per element, then 0.65); few arrays per loop. The NumPy
equations in ``cells.py`` remain the reference: float64 always runs them, and float32 does when Numba
is not installed or ``RNNKIT_NUMBA=0``; the tests compare the two paths.
"""

from __future__ import annotations

import os
from importlib.util import find_spec

import numpy as np

# False sends every cell down the NumPy path (the tests flip it to compare the two)
ENABLED = os.environ.get("RNNKIT_NUMBA", "1") != "0" and find_spec("numba") is not None


def active(dtype) -> bool:
    """True when steps of this ``dtype`` run through the compiled kernels: float32, when enabled."""
    return ENABLED and dtype == np.float32


def get(name: str):
    """The compiled kernel ``name`` from ``kernels.py`` (imports Numba on first use)."""
    from . import kernels

    return getattr(kernels, name)


def warm_up() -> None:
    """Compile every kernel once (~20 s; later processes load them from Numba's on-disk cache in
    ~0.7 s): a tiny forward and backward of each cell, at batch 1 (the compiled span loops) and at
    batch 128 (the per-step kernels), and of the embedding, the loss and SGD's update. ``make
    install`` runs it."""
    from .layers import Embedding
    from .losses import SoftmaxCrossEntropy
    from .recurrent import GRU, LSTM, RNN

    for B in (1, 128):
        for layer in (RNN(8, 64), LSTM(8, 64), GRU(8, 64)):
            layer.forward(np.zeros((B, 3, 8), np.float32))
            layer.backward(np.zeros((B, 3, 64), np.float32))
    embedding, loss = Embedding(5, 4), SoftmaxCrossEntropy()
    embedding.forward(np.zeros((2, 3), np.int64))
    embedding.backward(np.zeros((2, 3, 4), np.float32))
    loss.forward(np.zeros((2, 3, 5), np.float32), np.zeros((2, 3), np.int64))
    if active(np.dtype(np.float32)):
        get("add_scaled")(np.zeros(3, np.float32), -0.1, np.zeros(3, np.float32))  # SGD's update
