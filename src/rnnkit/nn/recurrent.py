"""Sequence layers: the time loop, stacking, directions, variable lengths and carried state.

``RNN``, ``LSTM`` and ``GRU`` share one implementation, ``Recurrent``; they differ only in their cell
(``cells.py``). Inputs and outputs are batch-first, ``(batch, time, features)``; inside, everything is
time-major so that each step reads and writes contiguous ``(batch, ·)`` slices.

Truncated backpropagation through time is plain use of the layer: feed the final ``state`` of one
call as the initial state of the next (the forward pass never breaks), and ignore the ``dstate0``
that ``backward`` returns (the backward pass stops at the block boundary).

Speed (see ``benchmarks/README.md``): each layer hoists its input projection out of the time loop and
forms its weight gradients with one product after it; the loop itself works in preallocated buffers,
kept from one call to the next (``workspace.py``: no page faults once shapes repeat). In float32 a
step's element-wise equations run as compiled kernels, and a plain span of steps (no lengths or resets)
runs as one compiled loop (``fastpath.py``, ``kernels.py``), its products row by row where small (batch
1), through the packed kernel (``packed.py``, ``W_h`` packed once per sequence) or through NumPy's BLAS
called by address (larger batches). A layer that runs alone shares each step's product between two
cores where the step is large enough (``Cell.two_cores``: shapes (a) and (b), and the LSTM and GRU at
(c)), and, where its steps run through the packed kernel, splits its larger products over two cores of
our own (``blas.matmul``); in the backward pass, each layer's weight-gradient products run on the second
core beside the layers below it (``blas.deferred``). A unit processes time in spans
(``forward_span``/``backward_span``), so that a stack of unidirectional layers whose steps do not run on
two cores can run as a two-thread wavefront (``wavefront.py``, from 4M multiply-adds a step), one core
per layer; otherwise the stack runs layer by layer, over one span.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from . import wavefront
from .base import Layer
from .blas import add_column_sums, deferred, matmul
from .cells import Cell, GRUCell, LSTMCell, RNNCell
from .checks import check_float_array, check_lengths
from .init import recurrent_weights
from .packed import KERNEL_MODES
from .workspace import Workspace


def _flush_to_zero(a: np.ndarray, below: float, work: np.ndarray, tiny: np.ndarray) -> None:
    """Set the entries of ``a`` smaller than ``below`` in magnitude to exactly 0, in place
    (``work``, ``tiny``: scratch of ``a``'s shape, float and bool)."""
    np.abs(a, out=work)
    np.less(work, below, out=tiny)
    np.copyto(a, 0, where=tiny)


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
        self._workspace = Workspace()  # the per-sequence buffers, kept for the next call

    def _time_order(self, t0: int, t1: int) -> range:
        """Steps ``t0 .. t1-1`` in this unit's direction of time."""
        return range(t1 - 1, t0 - 1, -1) if self.reverse else range(t0, t1)

    def _views(self, buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(prev, out)`` views of a ``(T+1, B, H)`` state buffer: step t reads prev[t], writes out[t]."""
        return (buf[1:], buf[:-1]) if self.reverse else (buf[:-1], buf[1:])

    # The sequence is processed in spans of time so that a stack can run as a wavefront (layer k on
    # span j while layer k+1 runs span j-1, see ``Recurrent``); a plain call is one span, [0, T).
    def forward(self, x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None,
                mask: np.ndarray | None, resets: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``x (T, B, I)`` time-major, ``h0, c0 (B, H)``; ``mask (T, B, 1)`` bool, False past each
        sequence's end; ``resets (T, B, 1)`` bool, True where the state is zeroed before the step.

        Returns ``y (T, B, H)`` (zero past each sequence's end), ``h_T`` and ``c_T`` (``(B, H)``, each
        taken at the sequence's own end).
        """
        self.begin_forward(x, h0, c0, mask, resets)
        self.forward_span(0, x.shape[0])
        return self.end_forward()

    def begin_forward(self, x, h0, c0, mask, resets, packed: bool = False) -> None:
        """Allocate the per-sequence buffers. ``x (T, B, I)`` may still be filling up: span ``[t0, t1)``
        reads only ``x[t0:t1]``, when it runs. ``packed``: the unit runs on a wavefront's thread, so
        its steps' products go through the single-threaded packed kernel (``packed.py``) wherever it
        is available; otherwise ``Cell.loop_kernels`` decides, and where it chooses the packed kernel
        the layer's larger products are split over two cores of our own (``blas.matmul``)."""
        T, B, _ = x.shape
        H, dtype = self.hidden_size, x.dtype
        self.release()  # the last call's buffers are free again unless something else holds them
        empty = self._workspace.empty
        loops, mode = self.cell.loop_kernels(B, H, dtype, packed, plain=mask is None and resets is None)
        cache = self.cell.alloc(T, B, H, self.params, dtype, mode, empty)
        h_buf = empty("h_buf", (T + 1, B, H), dtype)
        h_buf[-1 if self.reverse else 0] = h0
        c_buf = None
        if self.cell.has_cell_state:
            c_buf = empty("c_buf", (T + 1, B, H), dtype)
            c_buf[-1 if self.reverse else 0] = c0
        h_in = c_in = None
        if resets is not None:  # the states actually fed to each step, after the resets
            h_in = empty("h_in", (T, B, H), dtype)
            c_in = empty("c_in", (T, B, H), dtype) if c_buf is not None else None
        h_prev_seq, h_out = self._views(h_buf)
        c_prev_seq, c_out = self._views(c_buf) if c_buf is not None else (None, None)
        # h_prev_seq: the states the steps actually read (after resets); raw_h_prev: the buffer's view
        # A layer running alone whose steps' products run through the packed kernel splits its larger
        # products over two cores of our own too (``blas.matmul``): beside two-core steps, or an output
        # layer split the same way, OpenBLAS's workers would spin on after each product and take the
        # second core (LM step (b): 3,300 tokens/s, not ~5,000). Steps on NumPy's BLAS (larger batches,
        # float64) keep OpenBLAS's threads throughout (mixed, LSTM (c) took 1.25x torch's time).
        split = not packed and mode in KERNEL_MODES
        self._cache = dict(cell=cache, loops=loops, packed=mode, split=split, x=x,
                           xw=empty("xw", (T, B, self.params["W_h"].shape[1]), dtype),
                           h_buf=h_buf, c_buf=c_buf, mask=mask, resets=resets, h_out=h_out, c_out=c_out,
                           h_prev_seq=h_in if resets is not None else h_prev_seq,
                           c_prev_seq=c_in if resets is not None else c_prev_seq,
                           h_in=h_in, c_in=c_in, raw_h_prev=h_prev_seq, raw_c_prev=c_prev_seq)

    def release(self) -> None:
        """Drop what the last call kept for backward (its buffers stay in the workspace)."""
        self._cache = None

    def forward_span(self, t0: int, t1: int) -> None:
        """Run steps ``t0 .. t1-1``: their input projection as one product, then the serial loop."""
        p, c = self.params, self._cache
        x, xw = c["x"][t0:t1], c["xw"][t0:t1]
        n, B, I = x.shape
        # input projections, hoisted
        matmul(xw.reshape(n * B, -1), x.reshape(n * B, I), p["W_x"], split=c["split"])
        xw += p["b"]
        steps = self._time_order(t0, t1)
        if c["loops"] is not None:
            self.cell.forward_loop(c["loops"], steps, c["xw"], c["raw_h_prev"], c["h_out"], c["raw_c_prev"],
                                   c["c_out"], p, c["cell"])
        else:
            self._forward_steps(steps)

    def _forward_steps(self, steps: range) -> None:
        p, cell, c = self.params, self.cell, self._cache
        cache, mask, resets, xw = c["cell"], c["mask"], c["resets"], c["xw"]
        h_prev_seq, h_out, c_prev_seq, c_out = c["raw_h_prev"], c["h_out"], c["raw_c_prev"], c["c_out"]
        has_c = c_prev_seq is not None
        for t in steps:
            h_prev = h_prev_seq[t]
            c_prev, c_next = (c_prev_seq[t], c_out[t]) if has_c else (None, None)
            if resets is not None:
                h_prev = np.multiply(h_prev, ~resets[t], out=c["h_in"][t])
                if has_c:
                    c_prev = np.multiply(c_prev, ~resets[t], out=c["c_in"][t])
            cell.step(t, xw[t], h_prev, c_prev, h_out[t], c_next, p, cache)
            if mask is not None:  # past a sequence's end its state stays as it was
                frozen = ~mask[t]
                np.copyto(h_out[t], h_prev, where=frozen)
                if has_c:
                    np.copyto(c_next, c_prev, where=frozen)

    def output_span(self, t0: int, t1: int, out: np.ndarray | None = None) -> np.ndarray:
        """``y[t0:t1]``: the outputs of those steps, zero past each sequence's end."""
        c = self._cache
        h, mask = c["h_out"][t0:t1], c["mask"]
        if mask is not None:
            return np.multiply(h, mask[t0:t1], out=out)
        if out is None:
            return h
        np.copyto(out, h)
        return out

    def end_forward(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        c = self._cache
        del c["xw"]  # backward does not need the projections
        T = c["x"].shape[0]
        end = 0 if self.reverse else T
        c_buf = c["c_buf"]
        return self.output_span(0, T), c["h_buf"][end], (c_buf[end] if c_buf is not None else None)

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
        self.begin_backward(dy, dh_T, dc_T)
        T = dy.shape[0]
        dx = self.backward_span(0, T)
        return (dx, *self.end_backward())

    def begin_backward(self, dy, dh_T, dc_T) -> None:
        """``dy (T, B, H)`` may still be filling up: span ``[t0, t1)`` reads only ``dy[t0:t1]``."""
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() call first")
        c = self._cache
        T, B, I = c["x"].shape
        H, dtype = self.hidden_size, c["x"].dtype
        self.cell.alloc_backward(T, B, H, self.params, c["cell"], dtype, c["packed"], self._workspace.empty)
        # dh, dc ping-pong between two buffers: step_back reads one and writes the other
        dh = np.zeros((2, B, H), dtype=dtype)
        if dh_T is not None:
            dh[0] = dh_T
        dc = None
        if c["c_buf"] is not None:
            dc = np.zeros((2, B, H), dtype=dtype)
            if dc_T is not None:
                dc[0] = dc_T
        c.update(dy=dy, dh=dh, dc=dc, parity=0,
                 flush_work=np.empty((B, H), dtype=dtype), flush_mask=np.empty((B, H), dtype=bool))

    def backward_span(self, t0: int, t1: int, out: np.ndarray | None = None) -> np.ndarray:
        """Run the steps ``t0 .. t1-1`` backwards in time; return ``dx[t0:t1] (t1-t0, B, I)``."""
        p, cell, c = self.params, self.cell, self._cache
        cache, h_prev_seq = c["cell"], c["h_prev_seq"]
        steps = self._time_order(t0, t1)[::-1]
        # Flush to zero (as a CPU's FTZ mode would): every 4 steps, entries of the state gradient that
        # have decayed to just above the subnormal range are set to exactly 0. Subnormal arithmetic is
        # far slower on x86, and a vanishing gradient reaches it: through saturated tanh units within
        # a few steps, through a fresh LSTM within ~100.
        flush_below = np.finfo(c["dh"].dtype).tiny * 256
        dA = cache["dA"][t0:t1]
        n, B, GH = dA.shape
        I = c["x"].shape[2]
        dx = self._workspace.empty("dx", (n, B, I), dA.dtype) if out is None else out
        if c["loops"] is not None:
            c["parity"] = cell.backward_loop(c["loops"], steps, c["dy"], h_prev_seq, c["h_out"], c["c_prev_seq"],
                                             p, cache, c["dh"], c["dc"], c["parity"], flush_below)
        else:
            self._backward_steps(steps, flush_below)
        # the span's input gradient, one product (with W_x^T a transposed view: for products this
        # tall BLAS runs it as fast as a contiguous copy, which cost 2 ms per layer in shape (a))
        matmul(dx.reshape(n * B, I), dA.reshape(n * B, GH), p["W_x"].T, split=c["split"])
        return dx

    def _backward_steps(self, steps: range, flush_below: float) -> None:
        p, cell, c = self.params, self.cell, self._cache
        cache, mask, resets, dy = c["cell"], c["mask"], c["resets"], c["dy"]
        h_out, h_prev_seq, c_prev_seq = c["h_out"], c["h_prev_seq"], c["c_prev_seq"]
        dhs, dcs, k = c["dh"], c["dc"], c["parity"]
        for n_done, t in enumerate(steps):
            dh, dh_prev = dhs[k], dhs[1 - k]
            dc, dc_prev = (dcs[k], dcs[1 - k]) if dcs is not None else (None, None)
            if mask is None:
                dh += dy[t]
                dh_step, dc_step = dh, dc
            else:  # past the end: the output is a constant zero and the state passes through
                m = mask[t]
                dh += dy[t] * m
                dh_step = dh * m
                dc_step = dc * m if dc is not None else None
            c_prev = c_prev_seq[t] if dcs is not None else None
            cell.step_back(t, dh_step, dc_step, h_prev_seq[t], c_prev, h_out[t], p, cache, dh_prev, dc_prev)
            if mask is not None:
                keep = ~m
                dh_prev += dh * keep
                if dc is not None:
                    dc_prev += dc * keep
            if resets is not None:  # a reset state is a constant: nothing flows back through it
                dh_prev *= ~resets[t]
                if dc_prev is not None:
                    dc_prev *= ~resets[t]
            if n_done % 4 == 3:
                _flush_to_zero(dh_prev, flush_below, c["flush_work"], c["flush_mask"])
                if dc_prev is not None:
                    _flush_to_zero(dc_prev, flush_below, c["flush_work"], c["flush_mask"])
            k = 1 - k
        c["parity"] = k

    def weight_grad_jobs(self) -> list:
        """The weight gradients as two independent jobs, one product each over the whole sequence
        (as per-span products, narrower, they ran ~15% slower on LSTM shape (a)): ``W_x`` and ``b``,
        then ``W_h`` (and the cell's own). A wavefront shares them out between its threads."""
        p, g, cell, c = self.params, self.grads, self.cell, self._cache
        x, cache = c["x"], c["cell"]
        T, B, I = x.shape
        dA = cache["dA"].reshape(T * B, -1)
        split = c["split"]

        def input_side() -> None:
            matmul(g["W_x"], x.reshape(T * B, I).T, dA, add=True, split=split, defer=True)
            add_column_sums(g["b"], dA, split=split, defer=True)

        return [input_side, lambda: cell.hidden_grads(c["h_prev_seq"].reshape(T * B, -1), p, g, cache, split)]

    def end_backward(self, weight_grads: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Add the weight gradients (unless their jobs ran already); return ``dh0, dc0``."""
        if weight_grads:
            for job in self.weight_grad_jobs():
                job()
        c = self._cache
        k = c["parity"]
        dh0 = c["dh"][k].copy()
        dc0 = c["dc"][k].copy() if c["dc"] is not None else None
        for key in ("dy", "dh", "dc", "flush_work", "flush_mask"):
            del c[key]
        return dh0, dc0


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
        # Stacks of unidirectional layers run as a wavefront on two threads (see ``wavefront.py``).
        # None: when a step's product is large enough to pay for the threads, unless the layers run
        # their steps on two cores each (``Cell.two_cores``: 0.86-0.97 of the wavefront's time in
        # shape (a)); True: always (tests); False: layer by layer, the plain reference path the tests
        # compare against.
        self.use_wavefront: bool | None = None
        self._cache: dict | None = None
        self._workspace = Workspace()  # the stack's own buffers (inputs and gradients, time-major)

    def _wavefront(self, B: int) -> bool:
        if not (self.use_wavefront is not False and self.num_layers > 1 and self.num_directions == 1
                and wavefront.available()):
            return False
        if self.use_wavefront:
            return True
        step_work = B * self.hidden_size * self.cell.n_gates * self.hidden_size  # multiply-adds
        return (step_work >= wavefront.MIN_STEP_WORK
                and not self.cell.two_cores(B, self.hidden_size, self.dtype, stack=True))

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
        for row in self.units:  # so that their buffers can be reused (``workspace.py``)
            for unit in row:
                unit.release()
        inp = self._workspace.empty("x", (T, B, self.input_size), self.dtype)  # time-major
        np.copyto(inp, x.transpose(1, 0, 2))
        h_T = np.empty_like(h0)
        c_T = np.empty_like(c0) if c0 is not None else None
        use_wavefront = self._wavefront(B)
        if use_wavefront:
            y, drop_masks = self._forward_wavefront(inp, h0, c0, h_T, c_T, mask, resets)
        else:
            y, drop_masks = self._forward_layers(inp, h0, c0, h_T, c_T, mask, resets)
        self._cache = dict(B=B, T=T, drop_masks=drop_masks, mask=mask, wavefront=use_wavefront)
        y = np.ascontiguousarray(y.transpose(1, 0, 2))
        return y, self._pack_state(h_T, c_T)

    def _drop_mask(self, shape) -> np.ndarray:
        keep = (self.rng.random(shape) >= self.dropout).astype(self.dtype)
        keep /= 1.0 - self.dropout
        return keep

    def _dropping(self, k: int) -> bool:
        return k < self.num_layers - 1 and self.training and self.dropout > 0

    def _forward_layers(self, inp, h0, c0, h_T, c_T, mask, resets):
        """Layer after layer, each over the whole sequence (the reference path; also bidirectional)."""
        D = self.num_directions
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
            if self._dropping(k):
                keep = self._drop_mask(inp.shape)
                inp = inp * keep
                drop_masks.append(keep)
            else:
                drop_masks.append(None)
        return inp, drop_masks

    def _forward_wavefront(self, inp, h0, c0, h_T, c_T, mask, resets):
        """All layers at once along a wavefront (unidirectional stacks): layer k runs span j while
        layer k+1 runs span j-1; layer k writes each finished span of its output, times the dropout
        mask, into layer k+1's input buffer."""
        L, (T, B, _), H = self.num_layers, inp.shape, self.hidden_size
        units = [row[0] for row in self.units]
        # the dropout masks, drawn in the same order as the layer-by-layer path draws them
        drop_masks = [self._drop_mask((T, B, H)) if self._dropping(k) else None for k in range(L)]
        inputs = [inp] + [self._workspace.empty(f"input{k}", (T, B, H), self.dtype) for k in range(1, L)]
        for k, unit in enumerate(units):
            unit.begin_forward(inputs[k], h0[k], c0[k] if c0 is not None else None, mask, resets,
                               packed=True)
        bounds = wavefront.spans(T)

        def work(k: int, j: int) -> None:
            t0, t1 = bounds[j]
            units[k].forward_span(t0, t1)
            if k < L - 1:
                nxt = units[k].output_span(t0, t1, out=inputs[k + 1][t0:t1])
                if drop_masks[k] is not None:
                    nxt *= drop_masks[k][t0:t1]

        wavefront.run(L, len(bounds), work)
        for k, unit in enumerate(units):
            y, h_T[k], c_last = unit.end_forward()
            if c_T is not None:
                c_T[k] = c_last
        return y, drop_masks

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
        grad = self._workspace.empty("dy", (T, B, D * H), self.dtype)  # time-major
        np.copyto(grad, dy.transpose(1, 0, 2))
        if self._cache["wavefront"]:
            grad = self._backward_wavefront(grad, dh_T, dc_T, dh0, dc0)
        else:  # each layer's weight gradients beside the layers below it, where that helps
            with deferred() if self.backward_defers() else nullcontext():
                grad = self._backward_layers(grad, dh_T, dc_T, dh0, dc0)
        return np.ascontiguousarray(grad.transpose(1, 0, 2)), self._pack_state(dh0, dc0)

    def backward_defers(self) -> bool:
        """Whether ``backward`` after the last ``forward`` hands its weight gradients to the helper
        thread (``blas.deferred``): where the layers ran one by one with their steps through the packed
        kernel, and another unit's steps follow. Not where the steps run on NumPy's BLAS (larger
        batches, float64), which would then run on one thread, nor on the wavefront, whose two threads
        take both cores, nor for a single unit: nothing would run beside them, and the join's blocks
        re-pack their shared operand (LSTM shape (c), K = 6400: 97 GFLOP/s, against 150 split in halves)."""
        c = self._cache
        return (c is not None and not c["wavefront"] and self.units[0][0]._cache["split"]
                and self.num_layers * self.num_directions > 1)

    def _backward_layers(self, grad, dh_T, dc_T, dh0, dc0):
        D, H = self.num_directions, self.hidden_size
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
        return grad

    def _backward_wavefront(self, grad, dh_T, dc_T, dh0, dc0):
        """The forward wavefront mirrored: stage s runs layer L-1-s over the spans last to first; each
        finished span's input gradient, times layer k-1's dropout mask, becomes layer k-1's ``dy``."""
        L, (T, B, _), H = self.num_layers, grad.shape, self.hidden_size
        units = [row[0] for row in self.units]
        drop_masks = self._cache["drop_masks"]
        dys = [self._workspace.empty(f"dy{k}", (T, B, H), self.dtype) for k in range(L - 1)] + [grad]
        dx = self._workspace.empty("dx", (T, B, units[0].input_size), self.dtype)
        bounds = wavefront.spans(T)[::-1]

        def start(s: int) -> None:
            k = L - 1 - s
            units[k].begin_backward(dys[k], dh_T[k] if dh_T is not None else None,
                                    dc_T[k] if dc_T is not None else None)

        def work(s: int, j: int) -> None:
            k = L - 1 - s
            t0, t1 = bounds[j]
            out = units[k].backward_span(t0, t1, out=(dys[k - 1] if k else dx)[t0:t1])
            if k and drop_masks[k - 1] is not None:
                out *= drop_masks[k - 1][t0:t1]

        jobs: list = []  # weight-gradient products, taken by whichever stage's thread is free

        def finish(s: int) -> None:  # while the layers below still run their loops
            jobs.extend(units[L - 1 - s].weight_grad_jobs())
            while True:
                try:
                    job = jobs.pop(0)
                except IndexError:
                    return
                job()

        wavefront.run(L, len(bounds), work, start, finish)
        for k, unit in enumerate(units):
            dh0[k], dc_k = unit.end_backward(weight_grads=False)
            if dc0 is not None:
                dc0[k] = dc_k
        return dx


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
