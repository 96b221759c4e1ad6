"""One time step of a recurrent stack at a time, for inference on live streams.

``Recurrent.forward`` is built for whole sequences: it validates, transposes to time-major, allocates
per-sequence buffers and keeps what backward needs. For a stream fed one step at a time that work is
most of the cost at small sizes (batch 1, hidden 128: ~10x the arithmetic). A ``Stepper`` does the
set-up once and then runs each step as the cell equations alone, in buffers it reuses: per layer one
input product ``x_t W_x + b`` and the cell's ``step``.

It reads the layer's weights when it is made (the GRU caches slices of ``W_h``): make it after
training, and make a new one if the weights change.
"""

from __future__ import annotations

import numpy as np

from . import wavefront
from .recurrent import SMALL_BATCH, Recurrent


class Stepper:
    """Steps a unidirectional ``Recurrent`` stack for ``batch`` streams.

    ``step(x_t (batch, I), state)`` returns ``(h_top (batch, H), new_state)``; ``state`` is the
    layer's own format (``(num_layers, batch, H)``, a pair ``(h, c)`` for LSTM). The returned arrays
    are the stepper's buffers, overwritten by the next-but-one call: copy them to keep them.
    Equals ``layer.forward(x_t[:, None], state)`` in eval mode.
    """

    def __init__(self, layer: Recurrent, batch: int) -> None:
        if layer.num_directions != 1:
            raise ValueError("a bidirectional layer needs the whole sequence; it cannot be stepped")
        self.batch = batch
        self.units = [row[0] for row in layer.units]
        L, H, dtype = layer.num_layers, layer.hidden_size, layer.dtype
        self.caches = [u.cell.alloc(1, batch, H, u.params, dtype) for u in self.units]
        self.xw = [np.empty((batch, u.params["W_x"].shape[1]), dtype=dtype) for u in self.units]
        has_c = layer.cell.has_cell_state
        # two state buffers, used in turn: a step reads one and writes the other
        self.h = np.zeros((2, L, batch, H), dtype=dtype)
        self.c = np.zeros((2, L, batch, H), dtype=dtype) if has_c else None
        self.turn = 0
        # Small batches with a large W_h: matrix-vector-like products, which OpenBLAS runs ~2x faster on
        # one thread (hidden 650); below ~1M weights the switch (~10 us) costs more than it saves.
        self.one_thread = batch <= SMALL_BATCH and max(u.params["W_h"].size for u in self.units) >= 1 << 20

    def step(self, x_t: np.ndarray, state):
        if self.one_thread:
            with wavefront.single_threaded_blas():
                return self._step(x_t, state)
        return self._step(x_t, state)

    def _step(self, x_t: np.ndarray, state):
        h_prev, c_prev = (state if isinstance(state, tuple) else (state, None))
        nxt = 1 - self.turn
        h_next = self.h[nxt]
        c_next = self.c[nxt] if self.c is not None else None
        inp = x_t
        for k, (unit, cache, xw) in enumerate(zip(self.units, self.caches, self.xw)):
            p = unit.params
            np.matmul(inp, p["W_x"], out=xw)
            xw += p["b"]
            unit.cell.step(0, xw, h_prev[k], c_prev[k] if c_next is not None else None, h_next[k],
                           c_next[k] if c_next is not None else None, p, cache)
            inp = h_next[k]
        self.turn = nxt
        return inp, ((h_next, c_next) if c_next is not None else h_next)
