"""One time step of a recurrent stack at a time, for inference on live streams.

``Recurrent.forward`` is built for whole sequences: it validates, transposes to time-major, allocates
per-sequence buffers and keeps what backward needs. For a stream fed one step at a time that work is
most of the cost at small sizes (batch 1, hidden 128: ~10x the arithmetic). A ``Stepper`` does the
set-up once and then runs each step as the cell equations alone, in buffers it reuses.

For RNN and LSTM each layer's step is one product, ``[x_t, h_prev, 1] @ [W_x; W_h; b]``, and the
cell's activations. At batch 1 the stacked weights are kept transposed, ``(G*H, I+H+1)``, so the
product reads them row by row (on two threads ~15% faster than the untransposed form at hidden 650,
and ~1.8x faster than on one thread). The GRU,
whose reset gate acts on part of ``h_prev W_h``, steps with ``x_t W_x + b`` and the cell's ``step``.

It reads the layer's weights when it is made: make it after training, and make a new one if the
weights change.
"""

from __future__ import annotations

import numpy as np

from .recurrent import Recurrent


class Stepper:
    """Steps a unidirectional ``Recurrent`` stack for ``batch`` streams.

    ``step(x_t (batch, I), state)`` returns ``(h_top (batch, H), new_state)``; ``state`` is the
    layer's own format (``(num_layers, batch, H)``, a pair ``(h, c)`` for LSTM). The returned arrays
    are the stepper's buffers, overwritten by the next-but-one call: copy them to keep them.
    Equals ``layer.forward(x_t[:, None], state)`` in eval mode, up to rounding.
    """

    def __init__(self, layer: Recurrent, batch: int) -> None:
        if layer.num_directions != 1:
            raise ValueError("a bidirectional layer needs the whole sequence; it cannot be stepped")
        self.batch = batch
        self.cell = layer.cell
        self.units = [row[0] for row in layer.units]
        L, H, dtype = layer.num_layers, layer.hidden_size, layer.dtype
        self.caches = [u.cell.alloc(1, batch, H, u.params, dtype) for u in self.units]
        # two state buffers, used in turn: a step reads one and writes the other
        self.h = np.zeros((2, L, batch, H), dtype=dtype)
        self.c = np.zeros((2, L, batch, H), dtype=dtype) if layer.cell.has_cell_state else None
        self.turn = 0
        if self.cell.single_product:
            self._init_single_product(batch, dtype)
        else:
            self.xw = [np.empty((batch, u.params["W_x"].shape[1]), dtype=dtype) for u in self.units]

    def _init_single_product(self, batch: int, dtype) -> None:
        """Per layer: ``xh (batch, I+H+1)``, the stacked input ``[x_t, h_prev, 1]``, and the stacked
        weights, transposed at batch 1. The pre-activation goes straight into the cell's ``gates``."""
        self.xh, self.W, self.a = [], [], []
        for unit, cache in zip(self.units, self.caches):
            p = unit.params
            W = np.concatenate([p["W_x"], p["W_h"], p["b"][None, :]]).astype(dtype)
            xh = np.empty((batch, W.shape[0]), dtype=dtype)
            xh[:, -1] = 1
            a = cache["gates"][0] if "gates" in cache else np.empty((batch, W.shape[1]), dtype=dtype)
            self.xh.append(xh)
            self.W.append(np.ascontiguousarray(W.T) if batch == 1 else W)
            self.a.append(a)

    def step(self, x_t: np.ndarray, state):
        h_prev, c_prev = (state if isinstance(state, tuple) else (state, None))
        nxt = 1 - self.turn
        h_next = self.h[nxt]
        c_next = self.c[nxt] if self.c is not None else None
        if self.cell.single_product:
            self._step_single_product(x_t, h_prev, c_prev, h_next, c_next)
        else:
            self._step_cell(x_t, h_prev, c_prev, h_next, c_next)
        self.turn = nxt
        return h_next[-1], ((h_next, c_next) if c_next is not None else h_next)

    def _step_single_product(self, x_t, h_prev, c_prev, h_next, c_next) -> None:
        inp = x_t
        for k, (xh, W, a, cache) in enumerate(zip(self.xh, self.W, self.a, self.caches)):
            I = inp.shape[1]
            xh[:, :I] = inp
            xh[:, I:-1] = h_prev[k]
            if self.batch == 1:
                np.matmul(W, xh[0], out=a[0])
            else:
                np.matmul(xh, W, out=a)
            self.cell.activate(0, a, c_prev[k] if c_next is not None else None, h_next[k],
                               c_next[k] if c_next is not None else None, cache)
            inp = h_next[k]

    def _step_cell(self, x_t, h_prev, c_prev, h_next, c_next) -> None:
        inp = x_t
        for k, (unit, cache, xw) in enumerate(zip(self.units, self.caches, self.xw)):
            p = unit.params
            np.matmul(inp, p["W_x"], out=xw)
            xw += p["b"]
            unit.cell.step(0, xw, h_prev[k], c_prev[k] if c_next is not None else None, h_next[k],
                           c_next[k] if c_next is not None else None, p, cache)
            inp = h_next[k]
