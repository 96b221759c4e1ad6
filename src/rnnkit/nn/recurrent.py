"""Sequence layers: the time loop, stacking, directions, variable lengths and carried state.

``RNN``, ``LSTM`` and ``GRU`` share one implementation, ``Recurrent``; they differ only in their cell
(``cells.py``). Inputs and outputs are batch-first, ``(batch, time, features)``; inside, everything is
time-major so that each step reads and writes contiguous ``(batch, ·)`` slices.

Truncated backpropagation through time is plain use of the layer: feed the final ``state`` of one
call as the initial state of the next (the forward pass never breaks), and ignore the ``dstate0``
that ``backward`` returns (the backward pass stops at the block boundary).
"""

from __future__ import annotations

import numpy as np

from .base import Layer
from .cells import Cell, GRUCell, LSTMCell, RNNCell
from .checks import check_float_array, check_lengths
from .init import recurrent_weights


class RecurrentUnit(Layer):
    """One layer in one direction: parameters ``W_x (I, G*H)``, ``W_h (H, G*H)``, ``b (G*H,)``.

    PyTorch keeps two biases (``bias_ih``, ``bias_hh``) where one suffices; their sum is ``b``.
    """

    def __init__(self, cell: Cell, input_size: int, hidden_size: int, *, reverse: bool, dtype,
                 init: str, init_scale: float | None, forget_bias: float | None,
                 rng: np.random.Generator) -> None:
        super().__init__()
        self.cell, self.reverse = cell, reverse
        self.input_size, self.hidden_size = input_size, hidden_size
        W_x, W_h, b = recurrent_weights(input_size=input_size, hidden_size=hidden_size,
                                        n_gates=cell.n_gates, scheme=init, scale=init_scale,
                                        rng=rng, dtype=dtype)
        if forget_bias is not None:
            if not isinstance(cell, LSTMCell):
                raise ValueError(f"forget_bias applies to LSTM only, not {cell.name}")
            b[hidden_size : 2 * hidden_size] = forget_bias
        for name, value in {"W_x": W_x, "W_h": W_h, "b": b, **cell.extra_params(hidden_size, dtype)}.items():
            self.add_param(name, value)
        self._cache: dict | None = None

    def _time_order(self, T: int) -> range:
        return range(T - 1, -1, -1) if self.reverse else range(T)

    def _views(self, buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(prev, out)`` views of a ``(T+1, B, H)`` state buffer: step t reads prev[t], writes out[t]."""
        return (buf[1:], buf[:-1]) if self.reverse else (buf[:-1], buf[1:])

    def forward(self, x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None,
                mask: np.ndarray | None, resets: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``x (T, B, I)`` time-major, ``h0, c0 (B, H)``; ``mask (T, B, 1)`` bool, False past each
        sequence's end; ``resets (T, B, 1)`` bool, True where the state is zeroed before the step.

        Returns ``y (T, B, H)`` (zero past each sequence's end), ``h_T`` and ``c_T`` (``(B, H)``, each
        taken at the sequence's own end).
        """
        p, cell = self.params, self.cell
        T, B, I = x.shape
        H = self.hidden_size
        xw = (x.reshape(T * B, I) @ p["W_x"]).reshape(T, B, -1)  # all input projections at once
        xw += p["b"]
        cache = cell.alloc(T, B, H, p, x.dtype)
        h_buf = np.empty((T + 1, B, H), dtype=x.dtype)
        h_prev_seq, h_out = self._views(h_buf)
        h_buf[-1 if self.reverse else 0] = h0
        c_buf = c_prev_seq = c_out = None
        if cell.has_cell_state:
            c_buf = np.empty_like(h_buf)
            c_prev_seq, c_out = self._views(c_buf)
            c_buf[-1 if self.reverse else 0] = c0
        if resets is not None:  # the states actually fed to each step, after the resets
            h_in = np.empty((T, B, H), dtype=x.dtype)
            c_in = np.empty_like(h_in) if c_buf is not None else None
        for t in self._time_order(T):
            h_prev = h_prev_seq[t]
            c_prev, c_next = (c_prev_seq[t], c_out[t]) if c_buf is not None else (None, None)
            if resets is not None:
                h_prev = np.multiply(h_prev, ~resets[t], out=h_in[t])
                if c_buf is not None:
                    c_prev = np.multiply(c_prev, ~resets[t], out=c_in[t])
            cell.step(t, xw[t], h_prev, c_prev, h_out[t], c_next, p, cache)
            if mask is not None:  # past a sequence's end its state stays as it was
                frozen = ~mask[t]
                np.copyto(h_out[t], h_prev, where=frozen)
                if c_buf is not None:
                    np.copyto(c_next, c_prev, where=frozen)
        end = 0 if self.reverse else T
        y = h_out if mask is None else h_out * mask
        self._cache = dict(cell=cache, x=x, h_buf=h_buf, c_buf=c_buf, mask=mask, resets=resets,
                           h_prev_seq=h_in if resets is not None else h_prev_seq,
                           c_prev_seq=c_in if resets is not None else c_prev_seq)
        return y, h_buf[end], (c_buf[end] if c_buf is not None else None)

    def state_after(self, steps: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The state after the first ``steps`` steps of the last forward call (``0 <= steps <= T``)."""
        cache = self._cache
        if cache is None:
            raise RuntimeError("state_after() needs a forward() call first")
        T = cache["x"].shape[0]
        if self.reverse:
            raise ValueError("state_after() is defined for forward-direction layers only")
        if not 0 <= steps <= T:
            raise ValueError(f"state_after() expected steps in [0, {T}], got {steps}")
        c_buf = cache["c_buf"]
        return cache["h_buf"][steps], (c_buf[steps] if c_buf is not None else None)

    def backward(self, dy: np.ndarray, dh_T: np.ndarray | None, dc_T: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``dy (T, B, H)``; returns ``dx (T, B, I)``, ``dh0 (B, H)``, ``dc0 (B, H)`` or None."""
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() call first")
        p, g, cell = self.params, self.grads, self.cell
        c = self._cache
        cache, x, h_buf, c_buf, mask, resets = (c["cell"], c["x"], c["h_buf"], c["c_buf"], c["mask"],
                                                 c["resets"])
        T, B, I = x.shape
        H = self.hidden_size
        h_out = self._views(h_buf)[1]
        h_prev_seq, c_prev_seq = c["h_prev_seq"], c["c_prev_seq"]
        dh = np.zeros((B, H), dtype=x.dtype) if dh_T is None else dh_T.copy()
        dc = None
        if c_buf is not None:
            dc = np.zeros((B, H), dtype=x.dtype) if dc_T is None else dc_T.copy()
        for t in self._time_order(T)[::-1]:
            if mask is None:
                dh += dy[t]
                dh_step, dc_step = dh, dc
            else:  # past the end: the output is a constant zero and the state passes through
                m = mask[t]
                dh += dy[t] * m
                dh_step = dh * m
                dc_step = dc * m if dc is not None else None
            c_prev = c_prev_seq[t] if c_buf is not None else None
            dh_prev, dc_prev = cell.step_back(t, dh_step, dc_step, h_prev_seq[t], c_prev, h_out[t], p, cache)
            if mask is not None:
                keep = ~m
                dh_prev += dh * keep
                if dc is not None:
                    dc_prev += dc * keep
            if resets is not None:  # a reset state is a constant: nothing flows back through it
                dh_prev *= ~resets[t]
                if dc_prev is not None:
                    dc_prev *= ~resets[t]
            dh, dc = dh_prev, dc_prev
        dA = cache["dA"].reshape(T * B, -1)
        x2 = x.reshape(T * B, I)
        g["W_x"] += x2.T @ dA
        g["b"] += dA.sum(axis=0)
        cell.hidden_grads(h_prev_seq.reshape(T * B, H), p, g, cache)
        dx = (dA @ p["W_x"].T).reshape(T, B, I)
        return dx, dh, dc


class Recurrent(Layer):
    """A stack of recurrent layers, optionally bidirectional, over batch-first sequences.

    Parameters per layer ``k`` and direction are named ``l{k}.W_x``, ``l{k}.W_h``, ``l{k}.b`` and
    ``l{k}_reverse.*`` (see ``rnnkit.io.torch_state`` for PyTorch's names). Layer ``k > 0`` reads the
    previous layer's output, ``(batch, time, D*H)`` with ``D = 2`` directions if bidirectional.

    Shapes: ``x (B, T, input_size)``; ``y (B, T, D*H)``; the state ``h`` (and LSTM's ``c``) is
    ``(num_layers * D, B, H)``, index ``k * D + direction`` as in PyTorch.
    """

    def __init__(self, cell: Cell, input_size: int, hidden_size: int, *, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, dtype=np.float32,
                 init: str = "uniform", init_scale: float | None = None,
                 forget_bias: float | None = None, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{cell.name} expected {name} to be a positive integer, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{cell.name} expected dropout in [0, 1), got {dropout}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"{cell.name} supports float32 and float64, got {self.dtype.name}")
        self.cell = cell
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.num_directions = 2 if bidirectional else 1
        self.dropout = dropout
        self.rng = rng if rng is not None else np.random.default_rng()
        self.units: list[list[RecurrentUnit]] = []
        for k in range(num_layers):
            layer_input = input_size if k == 0 else hidden_size * self.num_directions
            row = []
            for d in range(self.num_directions):
                unit = RecurrentUnit(cell, layer_input, hidden_size, reverse=bool(d), dtype=self.dtype,
                                     init=init, init_scale=init_scale, forget_bias=forget_bias, rng=self.rng)
                row.append(self.add_child(f"l{k}" + ("_reverse" if d else ""), unit))
            self.units.append(row)
        self._cache: dict | None = None

    @property
    def name(self) -> str:
        return self.cell.name

    def _state_legend(self) -> str:
        return f"({self.num_layers * self.num_directions}, batch, {self.hidden_size})"

    def _split_state(self, state, B: int) -> tuple[np.ndarray, np.ndarray | None]:
        LD, H = self.num_layers * self.num_directions, self.hidden_size
        if state is None:
            zeros = np.zeros((LD, B, H), dtype=self.dtype)
            return zeros, (zeros.copy() if self.cell.has_cell_state else None)
        if self.cell.has_cell_state:
            if not (isinstance(state, (tuple, list)) and len(state) == 2):
                raise TypeError(f"{self.name} expected state as a tuple (h0, c0), got {type(state).__name__}")
            h0, c0 = state
        else:
            h0, c0 = state, None
        legend = self._state_legend()
        h0 = check_float_array(self.name, "h0", h0, dims=(LD, B, H), dtype=self.dtype, legend=legend)
        if c0 is not None:
            c0 = check_float_array(self.name, "c0", c0, dims=(LD, B, H), dtype=self.dtype, legend=legend)
        return h0, c0

    def _pack_state(self, h: np.ndarray, c: np.ndarray | None):
        return (h, c) if self.cell.has_cell_state else h

    def forward(self, x: np.ndarray, state=None, *, lengths=None, resets=None):
        """Run the stack over ``x (B, T, input_size)``.

        ``state``: initial ``h0`` (RNN, GRU) or ``(h0, c0)`` (LSTM), each ``(num_layers*D, B, H)``;
        zero when omitted. ``lengths``: ``(B,)`` ints; step ``t >= lengths[b]`` of sequence ``b`` is
        padding — its output is zero, it leaves the state untouched and gets no gradient, and the
        reverse direction starts at each sequence's own end. ``resets``: ``(B, T)`` bool, True where
        a new document begins: every layer's state of that sequence is zeroed before that step, and
        no gradient flows back across it (unidirectional stacks only).

        Returns ``(y, state)``: ``y (B, T, D*H)`` and the final state in the same form as ``state``.
        """
        x = check_float_array(self.name, "x", x, dims=(None, None, self.input_size),
                              dtype=self.dtype, legend=f"(batch, time, {self.input_size})")
        B, T, _ = x.shape
        if B == 0 or T == 0:
            raise ValueError(f"{self.name} expected a non-empty batch and time axis, got x of shape {x.shape}")
        h0, c0 = self._split_state(state, B)
        mask = None
        if lengths is not None:
            lengths = check_lengths(self.name, lengths, batch=B, time=T)
            mask = (np.arange(T)[:, None] < lengths[None, :])[:, :, None]  # (T, B, 1)
        if resets is not None:
            resets = np.asarray(resets)
            if resets.shape != (B, T) or resets.dtype != bool:
                raise ValueError(f"{self.name} expected resets as a bool array of shape (batch, time) = "
                                 f"({B}, {T}), got {resets.dtype.name} array of shape {resets.shape}")
            if self.num_directions != 1:
                raise ValueError(f"{self.name}: resets are defined for unidirectional layers only")
            resets = np.ascontiguousarray(resets.T)[:, :, None]  # (T, B, 1)
        D = self.num_directions
        inp = np.ascontiguousarray(x.transpose(1, 0, 2))  # (T, B, I)
        h_T = np.empty_like(h0)
        c_T = np.empty_like(c0) if c0 is not None else None
        drop_masks = []
        for k, row in enumerate(self.units):
            outs = []
            for d, unit in enumerate(row):
                idx = k * D + d
                y, h_T[idx], c_last = unit.forward(inp, h0[idx], c0[idx] if c0 is not None else None, mask,
                                                 resets)
                if c_T is not None:
                    c_T[idx] = c_last
                outs.append(y)
            inp = outs[0] if D == 1 else np.concatenate(outs, axis=-1)
            if k < self.num_layers - 1 and self.training and self.dropout > 0:
                keep = (self.rng.random(inp.shape) >= self.dropout).astype(self.dtype)
                keep /= 1.0 - self.dropout
                inp = inp * keep
                drop_masks.append(keep)
            else:
                drop_masks.append(None)
        self._cache = dict(B=B, T=T, drop_masks=drop_masks, mask=mask)
        y = np.ascontiguousarray(inp.transpose(1, 0, 2))
        return y, self._pack_state(h_T, c_T)

    def state_after(self, steps: int):
        """The state after the first ``steps`` time steps of the last forward call.

        Truncated BPTT with overlapping windows (TBPTT(k1, k2)) carries this state into the next
        window. Defined for unidirectional stacks.
        """
        if self.num_directions != 1:
            raise ValueError(f"{self.name}.state_after() is defined for unidirectional layers only")
        parts = [row[0].state_after(steps) for row in self.units]
        h = np.stack([hc[0] for hc in parts])
        c = np.stack([hc[1] for hc in parts]) if self.cell.has_cell_state else None
        return self._pack_state(h, c)

    def backward(self, dy: np.ndarray, dstate=None):
        """Backpropagate ``dy (B, T, D*H)`` (and ``dstate``, the gradient w.r.t. the final state).

        Adds every parameter gradient into ``grads`` and returns ``(dx, dstate0)``: ``dx (B, T, I)``
        and the gradient w.r.t. the initial state, in the same form as the state.
        """
        if self._cache is None:
            raise RuntimeError(f"{self.name}.backward() needs a forward() call first")
        B, T = self._cache["B"], self._cache["T"]
        D, H = self.num_directions, self.hidden_size
        dy = check_float_array(self.name, "dy", dy, dims=(B, T, D * H), dtype=self.dtype,
                               legend=f"({B}, {T}, {D * H})")
        dh_T, dc_T = (None, None)
        if dstate is not None:
            if self.cell.has_cell_state:
                dh_T, dc_T = dstate
            else:
                dh_T = dstate
        LD = self.num_layers * D
        dh0 = np.zeros((LD, B, H), dtype=self.dtype)
        dc0 = np.zeros((LD, B, H), dtype=self.dtype) if self.cell.has_cell_state else None
        grad = np.ascontiguousarray(dy.transpose(1, 0, 2))  # (T, B, D*H)
        for k in range(self.num_layers - 1, -1, -1):
            keep = self._cache["drop_masks"][k]
            if keep is not None:
                grad = grad * keep
            dx = None
            for d, unit in enumerate(self.units[k]):
                idx = k * D + d
                part = grad if D == 1 else np.ascontiguousarray(grad[..., d * H : (d + 1) * H])
                dx_d, dh0[idx], dc_d = unit.backward(
                    part,
                    dh_T[idx] if dh_T is not None else None,
                    dc_T[idx] if dc_T is not None else None,
                )
                if dc0 is not None:
                    dc0[idx] = dc_d
                dx = dx_d if dx is None else dx + dx_d
            grad = dx
        return np.ascontiguousarray(grad.transpose(1, 0, 2)), self._pack_state(dh0, dc0)


class RNN(Recurrent):
    """Elman RNN, ``h_t = tanh(h_{t-1} W_h + x_t W_x + b)`` (or ``relu``). See ``Recurrent``."""

    def __init__(self, input_size: int, hidden_size: int, *, nonlinearity: str = "tanh", **kwargs) -> None:
        super().__init__(RNNCell(nonlinearity), input_size, hidden_size, **kwargs)


class LSTM(Recurrent):
    """LSTM with gates packed ``i, f, g, o`` (see ``cells.LSTMCell``). The state is ``(h, c)``.

    ``forget_bias=1.0`` sets the forget gate's bias to 1 (Gers et al. 2000; Jozefowicz et al. 2015).
    """

    def __init__(self, input_size: int, hidden_size: int, **kwargs) -> None:
        super().__init__(LSTMCell(), input_size, hidden_size, **kwargs)


class GRU(Recurrent):
    """GRU with gates packed ``r, z, n``. ``reset="after"`` is PyTorch's form, ``"before"`` Cho et
    al.'s original (see ``cells.GRUCell``)."""

    def __init__(self, input_size: int, hidden_size: int, *, reset: str = "after", **kwargs) -> None:
        super().__init__(GRUCell(reset), input_size, hidden_size, **kwargs)
