"""The step equations of the three recurrent cells, forward and backward, and nothing else.

A cell is one time step. The sequence layer (``recurrent.py``) owns the time loop: it hoists the input
projection ``xw_t = x_t W_x + b`` out of the loop for all time steps at once, hands each step the views
it needs, and after the loop turns the stored pre-activation gradients ``dA`` into the weight and
input gradients with one matrix product each. So a cell sees only what must be serial::

    forward:  (xw_t, h_prev, c_prev) -> (h_next, c_next)
    backward: (dh_next, dc_next)     -> (dh_prev, dc_prev), storing dA[t]

Shapes, for batch ``B``, hidden size ``H`` and ``G`` gates: ``xw_t (B, G*H)``, ``h_prev (B, H)``,
``W_h (H, G*H)``. Gates are packed along the last axis in PyTorch's order: LSTM ``i, f, g, o``; GRU
``r, z, n``. Each step writes into preallocated per-sequence buffers (``cache``) and small per-step
workspaces instead of allocating: forward and backward of a step make no temporaries (the profile of
the original showed a fresh ``(B, H)`` array per expression and a fresh ``dA @ W_h^T`` per step).
``step_back`` writes ``dh_prev, dc_prev`` into arrays the loop passes in (the loop ping-pongs two).

The NumPy code here is the reference. In float32, where a cell names compiled kernels
(``kernel_names``, ``loop_kernel_names``; see ``fastpath.py``), they replace its element-wise
equations, or a whole span of steps; the tests hold the two paths equal.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import fastpath
from .blas import add_column_sums, matmul
from .blas import threads as blas_threads
from .packed import BLAS, NUMPY, ONE_CORE, TWO_CORES, Product, blas_loops
from .packed import available as packed_kernel_available
from .workspace import Empty, fresh


def sigmoid_(a: np.ndarray) -> np.ndarray:
    """In-place logistic sigmoid as ``(1 + tanh(a/2)) / 2``: never overflows, unlike ``1/(1+e^-a)``."""
    np.multiply(a, 0.5, out=a)
    np.tanh(a, out=a)
    np.multiply(a, 0.5, out=a)
    np.add(a, 0.5, out=a)
    return a


def sigmoid_grad_(dy: np.ndarray, s: np.ndarray, work: np.ndarray) -> np.ndarray:
    """``dy *= s (1 - s)`` in place, where ``s = sigmoid(a)``; ``work`` is scratch of ``dy``'s shape."""
    dy *= s
    np.subtract(1, s, out=work)
    dy *= work
    return dy


def tanh_grad_(dy: np.ndarray, t: np.ndarray, work: np.ndarray) -> np.ndarray:
    """``dy *= 1 - t^2 = (1 + t)(1 - t)`` in place, where ``t = tanh(a)``; ``work`` is scratch."""
    np.add(t, 1, out=work)
    dy *= work
    np.subtract(1, t, out=work)
    dy *= work
    return dy


class Cell:
    """What the time loop needs from a cell. Subclasses fill in the equations."""

    name = "cell"
    n_gates = 1
    has_cell_state = False
    # True where the whole pre-activation is ``x_t W_x + h_prev W_h + b``, so that one product
    # ``[x_t, h_prev, 1] @ [W_x; W_h; b]`` can form it and ``activate`` finish the step (RNN, LSTM;
    # not the GRU, whose reset gate acts on part of ``h_prev W_h``)
    single_product = False

    # names of the fused kernels (``kernels.py``) that replace the NumPy equations of ``step`` and
    # ``step_back`` for float32, where the cell has them
    kernel_names: tuple[str, str] | None = None

    # and of the kernels that run a whole span of steps, products included: row by row where a step's
    # product is small (at most LOOP_WORK multiply-adds), where the Python loop's round trips are most
    # of a step (batch 1, hidden 128); through the packed kernel of ``packed.py`` wherever it runs the
    # products; and otherwise (larger batches) through NumPy's BLAS on all its threads, called by
    # address (``packed.BLAS``: RNN (c) in 0.93-0.95 of the Python loop's time); the Python loop remains
    # for lengths and resets, and where the extension is not built
    loop_kernel_names: tuple[str, str] | None = None
    LOOP_WORK = 1 << 18
    LOOP_PACKED_BATCH = 32
    # a layer running alone shares each step's product between two cores (packed.TWO_CORES) up to
    # this batch, from this many multiply-adds per step (``benchmarks/probes.py two-cores``): shape (a)
    # (8.5M-34M) ran in 0.86-0.97 of the time for every cell; LSTM and GRU (b) (3.2M, 2.4M) in 0.83 and
    # 0.93 once the larger products beside them were split too; RNN (b) (0.8M) and shape (c) (batch 64)
    # showed no gain
    TWO_CORE_BATCH = 32
    TWO_CORE_WORK = 1 << 21
    # and, for a layer that no wavefront runs, up to this batch where ``W_h`` fits the two cores' L2 in
    # halves (512 KiB each here) and a step is large: shape (c), batch 64, hidden 256, where the kernel
    # ran the LSTM's step product at ~149 GFLOP/s on two cores against OpenBLAS's 105-114, and whole
    # layers in 0.94 (GRU) and 0.95 (LSTM) of the time (``benchmarks/probes.py two-cores``, 30 pairs). Not
    # the RNN's smaller step (4M multiply-adds: 0.99-1.01), nor W_h in L3 (LSTM at hidden 320 and 650:
    # 1.01 and 1.05).
    TWO_CORE_BATCH_CACHED = 64
    TWO_CORE_CACHED_BYTES = 1 << 20
    TWO_CORE_CACHED_WORK = 1 << 23

    def kernels(self, dtype) -> tuple | None:
        """``(forward, backward)`` compiled kernels for steps in ``dtype``, or None for NumPy."""
        if self.kernel_names is None or not fastpath.active(np.dtype(dtype)):
            return None
        return tuple(fastpath.get(name) for name in self.kernel_names)

    def two_cores(self, B: int, H: int, dtype, stack: bool = False) -> bool:
        """Whether a layer running alone at batch ``B`` shares its steps' products between two cores
        (where NumPy's BLAS may use two threads: not with ``OPENBLAS_NUM_THREADS=1``). ``stack``: the
        answer for a stack that could run as a wavefront instead, which two-core steps beat only up
        to ``TWO_CORE_BATCH`` (at batch 64, hidden 256, two layers: the wavefront took 0.92 of their time)."""
        work = B * self.n_gates * H * H  # multiply-adds per step
        if not (packed_kernel_available(dtype) and work >= self.TWO_CORE_WORK and blas_threads() >= 2):
            return False
        if B <= self.TWO_CORE_BATCH:
            return True
        W_h_bytes = work // B * np.dtype(dtype).itemsize
        return (not stack and B <= self.TWO_CORE_BATCH_CACHED and W_h_bytes <= self.TWO_CORE_CACHED_BYTES
                and work >= self.TWO_CORE_CACHED_WORK)

    def loop_kernels(self, B: int, H: int, dtype, packed: bool, plain: bool = True
                     ) -> tuple[tuple | None, int]:
        """``(loops, mode)``: the ``(forward, backward)`` compiled span loops for batch ``B``, or None
        (the Python loop), and how the steps' products run (``packed.NUMPY``, ``ONE_CORE``, ``TWO_CORES``
        or, from compiled loops, ``BLAS``). ``packed`` says the caller runs on a wavefront's thread.
        ``plain``: no lengths or resets (the compiled loops run plain spans only)."""
        work = B * self.n_gates * H * H
        if not packed_kernel_available(dtype):
            mode = NUMPY
        elif packed:
            mode = ONE_CORE
        elif self.two_cores(B, H, dtype):
            mode = TWO_CORES
        elif B <= self.LOOP_PACKED_BATCH or work <= self.LOOP_WORK:
            mode = ONE_CORE
        else:
            mode = NUMPY
        if not plain or self.loop_kernel_names is None or not fastpath.active(np.dtype(dtype)):
            # from the Python loop the kernel's round trip costs more than it saves on one core
            return None, mode if packed or mode == TWO_CORES else NUMPY
        if mode or work <= self.LOOP_WORK:
            return tuple(fastpath.get(name) for name in self.loop_kernel_names), mode
        if blas_loops(dtype):
            return tuple(fastpath.get(name) for name in self.loop_kernel_names), BLAS
        return None, NUMPY

    def forward_loop(self, loops, steps: range, xw, h_prev, h_out, c_prev, c_out, params, cache) -> None:
        """Run ``steps`` through ``loops[0]``: what ``step`` does for each, in one compiled call."""
        raise NotImplementedError

    def backward_loop(self, loops, steps: range, dy, h_prev, h_out, c_prev, params, cache,
                      dhs, dcs, k: int, below: float) -> int:
        """Run ``steps`` (in backward order) through ``loops[1]``; ``dhs, dcs (2, B, H)`` hold the
        state gradients, ``k`` indexes the current one. Returns the index after the last step."""
        raise NotImplementedError

    def extra_params(self, hidden_size: int, dtype) -> dict[str, np.ndarray]:
        """Parameters beyond ``W_x, W_h, b`` (PyTorch-form GRU: ``b_hn``)."""
        return {}

    def products(self, params: dict, packed: int, empty: Empty = fresh) -> dict[str, Product]:
        """The step's products with ``W_h``, by name: ``times_W_h``, ``h_prev @ W_h`` (``packed``: how
        they run: ``packed.NUMPY``, ``ONE_CORE`` or ``TWO_CORES`` (the kernel's two modes), or ``BLAS``
        (from compiled loops); ``empty``: where the packed copies live)."""
        return {"times_W_h": Product(params["W_h"], packed, empty, "W_h")}

    def products_back(self, params: dict, packed: int, empty: Empty = fresh) -> dict[str, Product]:
        """Backward's: ``times_W_hT``, ``dA @ W_h^T`` (by NumPy through a contiguous transpose: BLAS runs
        ``dA @ W_h.T`` markedly slower with a transposed view as right operand)."""
        return {"times_W_hT": Product(params["W_h"].T, packed, empty, "W_hT")}

    def alloc(self, T: int, B: int, H: int, params: dict, dtype, packed: int = NUMPY, empty: Empty = fresh
              ) -> dict:
        """Per-sequence buffers the forward pass fills (what backward needs), its workspaces, and
        the step's products (``products``); the larger ones from ``empty`` (``workspace.py``)."""
        return self.products(params, packed, empty)

    def alloc_backward(self, T: int, B: int, H: int, params: dict, cache: dict, dtype,
                       packed: int = NUMPY, empty: Empty = fresh) -> None:
        """Buffers only backward needs, made when it starts (so inference never pays for them):
        ``dA (T, B, G*H)``, the gradient of the pre-activations, scratch, and backward's products
        (``products_back``)."""
        # in the buffer of the input projections ``xw``, which the layer drops when forward ends
        cache["dA"] = empty("xw", (T, B, self.n_gates * H), dtype)
        cache["work"] = np.empty((B, H), dtype=dtype)
        cache.update(self.products_back(params, packed, empty))

    def step(self, t, xw_t, h_prev, c_prev, h_next, c_next, params, cache) -> None:
        raise NotImplementedError

    def activate(self, t, a, c_prev, h_next, c_next, cache) -> None:
        """The rest of a step once the pre-activation ``a (B, G*H)`` is formed (``single_product``
        cells only); ``a`` is overwritten, and must be ``cache["gates"][t]`` where the cell keeps it."""
        raise NotImplementedError

    def step_back(self, t, dh, dc, h_prev, c_prev, h_next, params, cache, dh_prev, dc_prev) -> None:
        """Write ``dh_prev`` (and ``dc_prev``) given the total gradients ``dh, dc`` reaching step t's
        outputs; store ``dA[t]``. ``dh, dc`` are not modified."""
        raise NotImplementedError

    def hidden_grads(self, H_prev: np.ndarray, params, grads, cache, split: bool = False) -> None:
        """Add ``dW_h`` (and cell-specific parameters) after the loop. ``H_prev (T*B, H)``; ``split``:
        the products' rows shared with a helper thread (``blas.matmul``)."""
        dA = cache["dA"]
        matmul(grads["W_h"], H_prev.T, dA.reshape(-1, dA.shape[-1]), add=True, split=split, defer=True)


class RNNCell(Cell):
    """Elman cell: ``h_next = act(h_prev W_h + x_t W_x + b)``, ``act`` = tanh or relu."""

    name = "RNN"
    n_gates = 1
    single_product = True

    def __init__(self, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        if nonlinearity == "tanh":
            self.kernel_names = ("tanh_", "tanh_back")
            self.loop_kernel_names = ("rnn_forward_loop", "rnn_backward_loop")

    def alloc(self, T, B, H, params, dtype, packed=False, empty=fresh):
        return {**super().alloc(T, B, H, params, dtype, packed, empty), "kernels": self.kernels(dtype)}

    def step(self, t, xw_t, h_prev, c_prev, h_next, c_next, params, cache) -> None:
        cache["times_W_h"](h_prev, h_next, add=xw_t)
        self.activate(t, h_next, c_prev, h_next, c_next, cache)

    def activate(self, t, a, c_prev, h_next, c_next, cache) -> None:
        if cache["kernels"] is not None:
            if a is not h_next:
                np.copyto(h_next, a)
            cache["kernels"][0](h_next)
        elif self.nonlinearity == "tanh":
            np.tanh(a, out=h_next)
        else:
            np.maximum(a, 0, out=h_next)

    def forward_loop(self, loops, steps, xw, h_prev, h_out, c_prev, c_out, params, cache) -> None:
        loops[0](steps.start, len(steps), steps.step, xw, *cache["times_W_h"].loop_operands(), h_prev, h_out)

    def backward_loop(self, loops, steps, dy, h_prev, h_out, c_prev, params, cache, dhs, dcs, k, below):
        return loops[1](steps.start, len(steps), steps.step, dy, h_out, *cache["times_W_hT"].loop_operands(),
                        cache["dA"], dhs, k, below)

    def step_back(self, t, dh, dc, h_prev, c_prev, h_next, params, cache, dh_prev, dc_prev) -> None:
        dA = cache["dA"][t]
        if cache["kernels"] is not None:
            cache["kernels"][1](dh, h_next, dA)
        elif self.nonlinearity == "tanh":
            np.copyto(dA, dh)
            tanh_grad_(dA, h_next, cache["work"])
        else:
            np.multiply(dh, h_next > 0, out=dA)
        cache["times_W_hT"](dA, dh_prev)


class LSTMCell(Cell):
    """Long short-term memory (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al.)::

        i, f, o = sigmoid(x_t W_x^{i,f,o} + h_prev W_h^{i,f,o} + b^{i,f,o})
        g       = tanh(x_t W_x^g + h_prev W_h^g + b^g)
        c_next  = f * c_prev + i * g
        h_next  = o * tanh(c_next)

    All four activations run as one pass over the packed ``(B, 4H)`` block, using
    ``sigmoid(a) = tanh(a/2)/2 + 1/2``: with the per-column vectors ``s = (1/2, 1/2, 1, 1/2)`` and
    ``off = (1/2, 1/2, 0, 1/2)`` (per gate ``i, f, g, o``), ``act(a) = s * tanh(s * a) + off`` — three
    ufunc calls over the block instead of eight over strided slices. Scaling by 1/2 is exact, so this
    equals the per-gate formulas bit for bit. In backward, every gate's derivative is
    ``(y - lo) * (1 - y)`` with ``lo = (0, 0, -1, 0)``: ``s (1 - s)`` for a sigmoid, ``1 - t^2`` for tanh.
    """

    name = "LSTM"
    n_gates = 4
    has_cell_state = True
    single_product = True
    kernel_names = ("lstm_activate", "lstm_step_back")
    loop_kernel_names = ("lstm_forward_loop", "lstm_backward_loop")

    @staticmethod
    @lru_cache(maxsize=16)
    def gate_vectors(H: int, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``s, off, lo`` of shape ``(4H,)`` for the packed order ``i, f, g, o`` (see the class doc);
        cached and read-only, since a streaming caller makes one forward call per step."""
        s = np.full(4 * H, 0.5, dtype=dtype)
        off = np.full(4 * H, 0.5, dtype=dtype)
        lo = np.zeros(4 * H, dtype=dtype)
        s[2 * H : 3 * H], off[2 * H : 3 * H], lo[2 * H : 3 * H] = 1, 0, -1
        for v in (s, off, lo):
            v.setflags(write=False)
        return s, off, lo

    def alloc(self, T, B, H, params, dtype, packed=False, empty=fresh):
        s, off, lo = self.gate_vectors(H, np.dtype(dtype))
        return {
            **super().alloc(T, B, H, params, dtype, packed, empty),
            "gates": empty("gates", (T, B, 4 * H), dtype),  # i, f, g, o after activation
            "tanh_c": empty("tanh_c", (T, B, H), dtype),
            "s": s, "off": off, "lo": lo, "kernels": self.kernels(dtype),
        }

    def alloc_backward(self, T, B, H, params, cache, dtype, packed=False, empty=fresh):
        super().alloc_backward(T, B, H, params, cache, dtype, packed, empty)
        cache["dc_total"] = np.empty((B, H), dtype=dtype)
        cache["work4"] = np.empty((B, 4 * H), dtype=dtype)

    def step(self, t, xw_t, h_prev, c_prev, h_next, c_next, params, cache) -> None:
        a = cache["gates"][t]
        cache["times_W_h"](h_prev, a, add=xw_t)
        self.activate(t, a, c_prev, h_next, c_next, cache)

    def forward_loop(self, loops, steps, xw, h_prev, h_out, c_prev, c_out, params, cache) -> None:
        loops[0](steps.start, len(steps), steps.step, xw, *cache["times_W_h"].loop_operands(), h_prev, h_out,
                 c_prev, c_out, cache["gates"], cache["tanh_c"])

    def backward_loop(self, loops, steps, dy, h_prev, h_out, c_prev, params, cache, dhs, dcs, k, below):
        return loops[1](steps.start, len(steps), steps.step, dy, cache["gates"], cache["tanh_c"], c_prev,
                        *cache["times_W_hT"].loop_operands(), cache["dA"], dhs, dcs, k, below)

    def activate(self, t, a, c_prev, h_next, c_next, cache) -> None:
        if cache["kernels"] is not None:
            cache["kernels"][0](a, c_prev, h_next, c_next, cache["tanh_c"][t])
            return
        H = h_next.shape[1]
        # i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of a  ==  s * tanh(s * a) + off
        a *= cache["s"]
        np.tanh(a, out=a)
        a *= cache["s"]
        a += cache["off"]
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        # c_next = f * c_prev + i * g
        np.multiply(f, c_prev, out=c_next)
        tanh_c = cache["tanh_c"][t]
        np.multiply(i, g, out=tanh_c)  # tanh_c as scratch for i * g
        c_next += tanh_c
        # h_next = o * tanh(c_next)
        np.tanh(c_next, out=tanh_c)
        np.multiply(o, tanh_c, out=h_next)

    def step_back(self, t, dh, dc, h_prev, c_prev, h_next, params, cache, dh_prev, dc_prev) -> None:
        a, tanh_c, dA = cache["gates"][t], cache["tanh_c"][t], cache["dA"][t]
        if cache["kernels"] is not None:
            cache["kernels"][1](dh, dc, a, tanh_c, c_prev, dA, dc_prev)
            cache["times_W_hT"](dA, dh_prev)
            return
        H = h_prev.shape[1]
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        di, df, dg, do = dA[:, :H], dA[:, H : 2 * H], dA[:, 2 * H : 3 * H], dA[:, 3 * H :]
        # h_next = o * tanh(c_next): do = dh tanh(c_next); dc_total = dc + dh o (1 - tanh(c_next)^2)
        np.multiply(dh, tanh_c, out=do)
        dc_total = cache["dc_total"]
        np.multiply(dh, o, out=dc_total)
        tanh_grad_(dc_total, tanh_c, cache["work"])
        dc_total += dc
        # c_next = f * c_prev + i * g
        np.multiply(dc_total, g, out=di)
        np.multiply(dc_total, c_prev, out=df)
        np.multiply(dc_total, i, out=dg)
        np.multiply(dc_total, f, out=dc_prev)
        # through the activations, all four gates at once: dA *= (y - lo) * (1 - y)
        work4 = cache["work4"]
        np.subtract(a, cache["lo"], out=work4)
        dA *= work4
        np.subtract(1, a, out=work4)
        dA *= work4
        cache["times_W_hT"](dA, dh_prev)


class GRUCell(Cell):
    """Gated recurrent unit (Cho et al. 2014), in one of two forms.

    ``reset="after"`` (PyTorch and cuDNN, the default) applies the reset gate after the hidden
    projection and keeps a separate bias ``b_hn`` inside it::

        r, z   = sigmoid(x_t W_x^{r,z} + h_prev W_h^{r,z} + b^{r,z})
        n      = tanh(x_t W_x^n + r * (h_prev W_h^n + b_hn) + b^n)
        h_next = (1 - z) * n + z * h_prev

    ``reset="before"`` is the original form of Cho et al. 2014: ``n = tanh(x_t W_x^n + (r * h_prev) W_h^n
    + b^n)``, which costs a second serial product per step and has no ``b_hn``.
    """

    name = "GRU"
    n_gates = 3

    def __init__(self, reset: str = "after") -> None:
        if reset not in ("after", "before"):
            raise ValueError(f"GRU reset must be 'after' (PyTorch) or 'before' (Cho et al.), got {reset!r}")
        self.reset = reset
        if reset == "after":
            self.kernel_names = ("gru_activate", "gru_step_back")
            self.loop_kernel_names = ("gru_forward_loop", "gru_backward_loop")

    def extra_params(self, hidden_size, dtype):
        return {"b_hn": np.zeros(hidden_size, dtype=dtype)} if self.reset == "after" else {}

    def products(self, params, packed, empty=fresh):
        if self.reset == "after":
            return super().products(params, packed, empty)
        W_h = params["W_h"]  # reset="before": the r, z block and the n block are separate products
        H = W_h.shape[0]
        return {"times_W_h_rz": Product(W_h[:, : 2 * H], packed, empty, "W_h_rz"),
                "times_W_h_n": Product(W_h[:, 2 * H :], packed, empty, "W_h_n")}

    def products_back(self, params, packed, empty=fresh):
        if self.reset == "after":
            return super().products_back(params, packed, empty)
        W_h = params["W_h"]
        H = W_h.shape[0]
        return {"times_W_h_rzT": Product(W_h[:, : 2 * H].T, packed, empty, "W_h_rzT"),
                "times_W_h_nT": Product(W_h[:, 2 * H :].T, packed, empty, "W_h_nT")}

    def alloc(self, T, B, H, params, dtype, packed=False, empty=fresh):
        cache = super().alloc(T, B, H, params, dtype, packed, empty)
        cache["gates"] = empty("gates", (T, B, 3 * H), dtype)  # r, z, n
        cache["kernels"] = self.kernels(dtype)
        cache["hw"] = np.empty((B, 3 * H if self.reset == "after" else 2 * H), dtype=dtype)
        if self.reset == "after":
            cache["hn"] = empty("hn", (T, B, H), dtype)  # h_prev W_h^n + b_hn
        else:
            cache["rh"] = empty("rh", (T, B, H), dtype)  # r * h_prev
        return cache

    def alloc_backward(self, T, B, H, params, cache, dtype, packed=False, empty=fresh):
        super().alloc_backward(T, B, H, params, cache, dtype, packed, empty)
        cache["work2"] = np.empty((B, H), dtype=dtype)
        if self.reset == "after":
            cache["dA_h"] = empty("dA_h", (T, B, 3 * H), dtype)  # dA as seen by W_h
        else:
            cache["drh"] = np.empty((B, H), dtype=dtype)

    def forward_loop(self, loops, steps, xw, h_prev, h_out, c_prev, c_out, params, cache) -> None:
        loops[0](steps.start, len(steps), steps.step, xw, *cache["times_W_h"].loop_operands(), params["b_hn"],
                 h_prev, h_out, cache["gates"], cache["hn"], cache["hw"])

    def backward_loop(self, loops, steps, dy, h_prev, h_out, c_prev, params, cache, dhs, dcs, k, below):
        return loops[1](steps.start, len(steps), steps.step, dy, cache["gates"], cache["hn"], h_prev,
                        *cache["times_W_hT"].loop_operands(), cache["dA"], cache["dA_h"], dhs, cache["work2"],
                        k, below)

    def step(self, t, xw_t, h_prev, c_prev, h_next, c_next, params, cache) -> None:
        H = h_prev.shape[1]
        a, hw = cache["gates"][t], cache["hw"]
        if cache["kernels"] is not None:  # reset="after" only
            cache["times_W_h"](h_prev, hw)
            cache["kernels"][0](xw_t, hw, params["b_hn"], a, cache["hn"][t], h_prev, h_next)
            return
        rz, n = a[:, : 2 * H], a[:, 2 * H :]
        r, z = a[:, :H], a[:, H : 2 * H]
        if self.reset == "after":
            cache["times_W_h"](h_prev, hw)
            np.add(xw_t[:, : 2 * H], hw[:, : 2 * H], out=rz)
            sigmoid_(rz)
            hn = cache["hn"][t]
            np.add(hw[:, 2 * H :], params["b_hn"], out=hn)
            np.multiply(r, hn, out=n)
        else:
            cache["times_W_h_rz"](h_prev, hw)
            np.add(xw_t[:, : 2 * H], hw, out=rz)
            sigmoid_(rz)
            rh = cache["rh"][t]
            np.multiply(r, h_prev, out=rh)
            cache["times_W_h_n"](rh, n)
        n += xw_t[:, 2 * H :]
        np.tanh(n, out=n)
        # h_next = (1 - z) * n + z * h_prev = n + z * (h_prev - n)
        np.subtract(h_prev, n, out=h_next)
        h_next *= z
        h_next += n

    def step_back(self, t, dh, dc, h_prev, c_prev, h_next, params, cache, dh_prev, dc_prev) -> None:
        H = h_prev.shape[1]
        a, dA = cache["gates"][t], cache["dA"][t]
        if cache["kernels"] is not None:
            dA_h, dh_direct = cache["dA_h"][t], cache["work2"]
            cache["kernels"][1](dh, a, cache["hn"][t], h_prev, dA, dA_h, dh_direct)
            cache["times_W_hT"](dA_h, dh_prev)
            dh_prev += dh_direct
            return
        r, z, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
        dr, dz, dn = dA[:, :H], dA[:, H : 2 * H], dA[:, 2 * H :]
        work, work2 = cache["work"], cache["work2"]
        # h_next = n + z * (h_prev - n): dz = dh (h_prev - n), dn = dh (1 - z), direct dh_prev = dh z
        np.subtract(h_prev, n, out=dz)
        dz *= dh
        sigmoid_grad_(dz, z, work)
        np.subtract(1, z, out=dn)
        dn *= dh
        tanh_grad_(dn, n, work)
        if self.reset == "after":
            # n = tanh(xw_n + r * hn): dr = dn hn; the W_h^n product sees dn * r
            np.multiply(dn, cache["hn"][t], out=dr)
            sigmoid_grad_(dr, r, work)
            dA_h = cache["dA_h"][t]
            dA_h[:, : 2 * H] = dA[:, : 2 * H]
            np.multiply(dn, r, out=dA_h[:, 2 * H :])
            cache["times_W_hT"](dA_h, dh_prev)
        else:
            # n = tanh(xw_n + (r * h_prev) W_h^n): drh = dn W_h^n^T; dr = drh h_prev; dh_prev += drh r
            drh = cache["drh"]
            cache["times_W_h_nT"](dn, drh)
            np.multiply(drh, h_prev, out=dr)
            sigmoid_grad_(dr, r, work)
            cache["times_W_h_rzT"](dA[:, : 2 * H], dh_prev)
            drh *= r
            dh_prev += drh
        np.multiply(dh, z, out=work2)
        dh_prev += work2

    def hidden_grads(self, H_prev, params, grads, cache, split=False) -> None:
        H = H_prev.shape[1]
        if self.reset == "after":
            dA_h = cache["dA_h"].reshape(H_prev.shape[0], -1)
            matmul(grads["W_h"], H_prev.T, dA_h, add=True, split=split, defer=True)
            add_column_sums(grads["b_hn"], dA_h[:, 2 * H :], split=split, defer=True)
        else:
            dA = cache["dA"].reshape(H_prev.shape[0], -1)
            dW_h = grads["W_h"]
            matmul(dW_h[:, : 2 * H], H_prev.T, dA[:, : 2 * H], add=True, split=split, defer=True)
            matmul(dW_h[:, 2 * H :], cache["rh"].reshape(-1, H).T, dA[:, 2 * H :], add=True, split=split,
                   defer=True)
