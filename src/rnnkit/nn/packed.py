"""Products with a fixed right operand, ``a @ W``, through a kernel that packs ``W`` once (``_packed.c``).

Why: the serial step of a recurrent layer is a narrow product, ``h_prev (B, H) @ W_h (H, G*H)`` forward
and ``dA (B, G*H) @ W_h^T`` backward, with the same ``W_h`` at every step. A BLAS call packs its
operands into its own layout on every call; for LSTM shape (a), ``(20, 650) @ (650, 2600)``, re-packing
``W_h`` is 6.8 MB of memory traffic per step next to 34M multiply-adds. Packed once per sequence, the
steps' products ran 1.04-1.30x OpenBLAS's rate on one thread with the kernel's first tile (5 x 16), and
whole layers 2-14% faster (25-30% at batch 1; ``benchmarks/packed_ab.py``); its 4 x 24 tile runs them
1.16-1.24x faster again (``benchmarks/kernel_ab.sh --against 8a42d68``).

The kernel runs in two modes. ``ONE_CORE``: on the calling thread, for the wavefront (``wavefront.py``),
whose layers run on one core each, and for steps too small to share. ``TWO_CORES``: the caller and one
helper thread of the extension take chunks of ``W``'s panels from a shared ticket (each column is still
summed by one thread, in the same order, so the result equals ``ONE_CORE``'s bit for bit); for a layer
that runs alone (``Cell.two_cores``: batch up to 32, from 2M multiply-adds a step), where OpenBLAS's two
threads run the narrow step product at about one core's rate: (20, 650) @ (650, 2600) at 125 GFLOP/s here
against OpenBLAS's 56 (``probes.py products``). The compiled span loops (``kernels.py``) call either by
address, without a Python round trip per step. A batch of one has its own kernel (a row times four panels
at a time, then two, then one). Float32 only, x86-64 with AVX2 and FMA; elsewhere, where the extension
was not built (no C compiler at install), or with ``RNNKIT_PACKED=0``, ``Product`` runs NumPy's product
instead, and the results differ only in the rounding of the sums. The tests compare the two.

The same helper thread shares a few memory-bound passes of a training step: a language model's softmax
(``softmax_exps``) and, for large float32 arrays, an optimiser's update and a gradient's norm and
clipping (``axpby``, ``sum_squares``).
"""

from __future__ import annotations

import ctypes
import os
from importlib.util import find_spec

import numpy as np

from .blas import _blas_libraries, threads
from .workspace import Empty, fresh


def _load():
    spec = find_spec("rnnkit.nn._packed")
    if spec is None or spec.origin is None:
        return None
    lib = ctypes.CDLL(spec.origin)
    lib.rnnkit_packed_supported.restype = ctypes.c_int
    if not lib.rnnkit_packed_supported():
        return None
    ptr, long = ctypes.c_void_p, ctypes.c_long
    lib.rnnkit_packed_size.argtypes, lib.rnnkit_packed_size.restype = [long, long], long
    lib.rnnkit_pack.argtypes, lib.rnnkit_pack.restype = [ptr, long, long, long, long, ptr], None
    lib.rnnkit_pack2.argtypes, lib.rnnkit_pack2.restype = lib.rnnkit_pack.argtypes, None
    lib.rnnkit_axpby2.argtypes = [long, ctypes.c_float, ptr, ctypes.c_float, ptr]
    lib.rnnkit_axpby2.restype = ctypes.c_int
    lib.rnnkit_sum_squares2.argtypes, lib.rnnkit_sum_squares2.restype = [long, ptr], ctypes.c_double
    lib.rnnkit_helper_chunks.argtypes, lib.rnnkit_helper_chunks.restype = [], long
    lib.rnnkit_set_sgemm.argtypes, lib.rnnkit_set_sgemm.restype = [ptr, ctypes.c_int], None
    lib.rnnkit_sgemm2.argtypes = [ctypes.c_int, ctypes.c_int, long, long, long, ptr, long, ptr, long,
                                  ctypes.c_float, ptr, long]
    lib.rnnkit_sgemm2.restype = ctypes.c_int
    lib.rnnkit_defer_sgemm.argtypes, lib.rnnkit_defer_sgemm.restype = lib.rnnkit_sgemm2.argtypes, ctypes.c_int
    lib.rnnkit_defer_join.argtypes, lib.rnnkit_defer_join.restype = [], None
    lib.rnnkit_softmax_exps2.argtypes = [long, long, ptr, long, ptr, long, ptr, ptr, ptr]
    lib.rnnkit_softmax_exps2.restype = ctypes.c_int
    for fn in (lib.rnnkit_packed_matmul, lib.rnnkit_packed_matmul2, lib.rnnkit_blas_matmul):
        fn.argtypes = [long, long, long, ptr, long, ptr, ptr, long, ptr, long]
        fn.restype = ctypes.c_int
    return lib


_lib = _load() if os.environ.get("RNNKIT_PACKED", "1") != "0" else None
# False sends every product through NumPy (the tests flip it to compare the two)
ENABLED = _lib is not None
# the kernels' addresses, for the compiled span loops (``kernels._product``) to call them directly
ADDRESS = ctypes.cast(_lib.rnnkit_packed_matmul, ctypes.c_void_p).value if _lib is not None else 0
ADDRESS2 = ctypes.cast(_lib.rnnkit_packed_matmul2, ctypes.c_void_p).value if _lib is not None else 0
ADDRESS_BLAS = ctypes.cast(_lib.rnnkit_blas_matmul, ctypes.c_void_p).value if _lib is not None else 0

# How a ``Product`` runs: NumPy's BLAS; the kernel on the calling thread (a wavefront's stage); the
# kernel shared between the calling thread and the extension's helper thread (a layer running alone);
# or NumPy's BLAS on all its threads, called by address from a compiled span loop (``BLAS``: steps
# whose products OpenBLAS runs best, batch 64 for the RNN, without a Python round trip per step)
NUMPY, ONE_CORE, TWO_CORES, BLAS = 0, 1, 2, 3
KERNEL_MODES = (ONE_CORE, TWO_CORES)  # the modes that run the packed kernel (and pack W for it)


def available(dtype) -> bool:
    """True when products in ``dtype`` can run through the packed kernel."""
    return ENABLED and np.dtype(dtype) == np.float32


def raw_floats(K: int, N: int) -> int:
    """How many floats a ``PackedMatrix`` of a ``(K, N)`` matrix takes, its alignment included."""
    return _lib.rnnkit_packed_size(K, N) + 16


class PackedMatrix:
    """``W (K, N)`` float32, packed for ``a @ W``. Read when built: later changes to ``W`` are not seen.

    ``raw``: a 1-d float32 array of ``raw_floats(K, N)`` to pack into (a buffer kept from one call to
    the next, see ``workspace.py``), or None for a new one. ``cores``: ``TWO_CORES`` packs on the caller
    and the helper thread, as the products of a layer whose steps run on two cores."""

    def __init__(self, W: np.ndarray, raw: np.ndarray | None = None, cores: int = ONE_CORE) -> None:
        if W.dtype != np.float32 or W.ndim != 2:
            raise TypeError(f"PackedMatrix expected a 2-d float32 array, got {W.dtype.name} of shape {W.shape}")
        if W.size == 0:
            raise ValueError(f"PackedMatrix expected a non-empty matrix, got shape {W.shape}")
        self.shape = W.shape
        K, N = W.shape
        size, floats = _lib.rnnkit_packed_size(K, N), raw_floats(K, N)
        if raw is None:
            raw = np.empty(floats, dtype=np.float32)
        elif raw.dtype != np.float32 or raw.shape != (floats,):
            raise ValueError(f"PackedMatrix expected raw as float32 ({floats},), got {raw.dtype.name} "
                             f"{raw.shape}")
        start = (-raw.ctypes.data % 64) // 4  # panels on cache-line boundaries: no split loads
        self.data = raw[start : start + size]
        itemsize = W.itemsize
        pack = _lib.rnnkit_pack2 if cores == TWO_CORES else _lib.rnnkit_pack
        pack(W.ctypes.data, K, N, W.strides[0] // itemsize, W.strides[1] // itemsize, self.data.ctypes.data)

    def matmul(self, a: np.ndarray, out: np.ndarray, add: np.ndarray | None = None, cores: int = 1
               ) -> np.ndarray:
        """``out[:] = a @ W (+ add)``; ``a (M, K)``, ``out, add (M, N)``, float32 rows contiguous
        (``add`` may be ``out``). ``cores``: 1, or 2 to share the product with the extension's helper
        thread (``TWO_CORES``). Releases the GIL while it runs."""
        K, N = self.shape
        M = a.shape[0]
        for name, x, cols in (("a", a, K), ("out", out, N), ("add", add, N)):
            if x is not None and (x.dtype != np.float32 or x.shape != (M, cols) or x.strides[1] != 4):
                raise ValueError(f"packed matmul expected {name} as float32 ({M}, {cols}) with contiguous "
                                 f"rows, got {x.dtype.name} {x.shape} strides {x.strides}")
        return self._matmul(a, out, add, cores) if M else out

    def _matmul(self, a: np.ndarray, out: np.ndarray, add: np.ndarray | None, cores: int = ONE_CORE
                ) -> np.ndarray:
        """``matmul`` without its checks: for ``Product``, whose callers (the cells) pass operands of
        the right shapes at every step. ``cores``: ``ONE_CORE`` or ``TWO_CORES``."""
        K, N = self.shape
        kernel = _lib.rnnkit_packed_matmul2 if cores == TWO_CORES else _lib.rnnkit_packed_matmul
        status = kernel(a.shape[0], N, K, a.ctypes.data, a.strides[0] // 4, self.data.ctypes.data,
                        out.ctypes.data, out.strides[0] // 4, None if add is None else add.ctypes.data,
                        0 if add is None else add.strides[0] // 4)
        if status:
            raise MemoryError("packed matmul could not allocate its workspace")
        return out


_NO_MATRIX = np.zeros((1, 1), np.float32)  # what a compiled loop gets for an operand it does not read
_NO_PACKED = np.zeros(1, np.float32)


class Product:
    """``product(a, out, add=None)``: ``out[:] = a @ W (+ add)`` for a fixed ``W``, through the packed
    kernel where available (``packed``: ``ONE_CORE`` or ``TWO_CORES``) or NumPy's BLAS."""

    def __init__(self, W: np.ndarray, packed: int = NUMPY, empty: Empty = fresh, name: str = "W") -> None:
        """``empty``, ``name``: where the packed copy of ``W`` lives (``workspace.py``)."""
        self.cores = int(packed) if available(W.dtype) else NUMPY
        self.packed = None
        if self.cores in KERNEL_MODES:
            self.packed = PackedMatrix(W, empty(name, (raw_floats(*W.shape),), np.float32), self.cores)
        self.W = W if self.packed is not None else np.ascontiguousarray(W)

    def loop_operands(self) -> tuple[np.ndarray, int, np.ndarray]:
        """``(W, address, W_packed)`` for a compiled span loop: the kernel's address and ``W`` packed,
        or ``W`` itself (contiguous), 0 and a placeholder when the product runs without it."""
        if self.packed is not None:
            return _NO_MATRIX, ADDRESS2 if self.cores == TWO_CORES else ADDRESS, self.packed.data
        if self.cores == BLAS:  # the C function of the kernel's signature that calls BLAS on W itself
            return _NO_MATRIX, ADDRESS_BLAS, self.W.reshape(-1)
        return self.W, 0, _NO_PACKED

    def __call__(self, a: np.ndarray, out: np.ndarray, add: np.ndarray | None = None) -> np.ndarray:
        if self.packed is not None:
            return self.packed._matmul(a, out, add, self.cores)
        np.matmul(a, self.W, out=out)
        if add is not None:
            out += add
        return out


def helper_chunks() -> int:
    """How many chunks of two-core products (``TWO_CORES``) the helper thread has run in this process."""
    return _lib.rnnkit_helper_chunks() if _lib is not None else 0


def _numpy_sgemm() -> tuple[int, bool] | None:
    """The address of ``cblas_sgemm`` in the BLAS NumPy loaded (found through ``threadpoolctl``), and
    whether it takes 64-bit integers; None where there is none to find."""
    for lib in _blas_libraries():
        try:
            handle = ctypes.CDLL(lib.filepath)  # the library already loaded: the same instance
        except OSError:
            continue
        for name, ilp64 in (("scipy_cblas_sgemm64_", True), ("cblas_sgemm64_", True), ("cblas_sgemm", False)):
            try:
                return ctypes.cast(getattr(handle, name), ctypes.c_void_p).value, ilp64
            except AttributeError:
                continue
    return None


_sgemm_ready: bool | None = None


def _operand(x: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``(array, transposed, leading dimension)`` of a 2-d float32 operand for BLAS, copied if its
    layout is neither row- nor column-major."""
    rows, cols = x.shape
    if x.strides[1] == 4 and x.strides[0] >= 4 * max(1, cols):
        return x, 0, x.strides[0] // 4
    if x.strides[0] == 4 and x.strides[1] >= 4 * max(1, rows):
        return x, 1, x.strides[1] // 4
    x = np.ascontiguousarray(x)
    return x, 0, max(1, cols)


def sgemm_ready() -> bool:
    """Whether the extension has NumPy's ``cblas_sgemm`` to call (looked up once, on first use)."""
    global _sgemm_ready
    if _sgemm_ready is None:
        found = _numpy_sgemm() if _lib is not None else None
        if found is not None:
            _lib.rnnkit_set_sgemm(found[0], int(found[1]))
        _sgemm_ready = found is not None
    return _sgemm_ready


def blas_loops(dtype) -> bool:
    """Whether compiled span loops can run their steps' products through NumPy's BLAS (``BLAS``)."""
    return available(dtype) and sgemm_ready()


def _sgemm_call(out: np.ndarray, a: np.ndarray, b: np.ndarray, add: bool) -> tuple | None:
    """``(args, operands)`` for the extension's products through NumPy's ``cblas_sgemm``, ``out[:] = a @
    b`` (``add``: ``out += a @ b``): the C call's arguments, and the arrays they point into (``a`` and
    ``b`` possibly copied), which must live until the product has run. None where it cannot run (no
    extension, no ``cblas_sgemm`` found, other dtypes, ``out`` without contiguous rows)."""
    (M, K), N = a.shape, b.shape[1]
    if (_lib is None or not (a.dtype == b.dtype == out.dtype == np.float32) or b.shape[0] != K
            or out.shape != (M, N) or out.strides[1] != 4 or min(M, N, K) == 0):
        return None
    if not sgemm_ready():
        return None
    (a, ta, lda), (b, tb, ldb) = _operand(a), _operand(b)
    args = (ta, tb, M, N, K, a.ctypes.data, lda, b.ctypes.data, ldb, 1.0 if add else 0.0, out.ctypes.data,
            _ld(out))
    return args, (out, a, b)


def _ld(out: np.ndarray) -> int:
    """``out``'s leading dimension for BLAS: its row stride, which NumPy may leave 0 for a single row."""
    return out.strides[0] // 4 if out.shape[0] > 1 else max(1, out.shape[1])


def matmul_two_cores(out: np.ndarray, a: np.ndarray, b: np.ndarray, add: bool = False) -> bool:
    """``out[:] = a @ b`` (``add``: ``out += a @ b``), float32, through NumPy's BLAS on the caller and
    on the extension's helper thread, one half each (rows, or columns if wider than tall); the caller
    keeps NumPy's BLAS at one thread (``blas.single_threaded``). False, with nothing done, where this
    cannot run (see ``_sgemm_call``)."""
    call = _sgemm_call(out, a, b, add)
    if call is None:
        return False
    if _lib.rnnkit_sgemm2(*call[0]):
        raise MemoryError("two-core product: the extension refused it")
    return True


def defer_product(out: np.ndarray, a: np.ndarray, b: np.ndarray, add: bool, keep: list) -> bool:
    """Queue ``out[:] = a @ b`` (``add``: ``out += a @ b``) for the helper thread, which runs it while
    the caller goes on with NumPy's BLAS at one thread; ``join_deferred`` waits for it. The operands
    are appended to ``keep``, which must hold them until then. False, with nothing done, where it
    cannot be queued (as ``matmul_two_cores``; or another thread's product holds the helper, or the
    queue is full): then the caller runs it."""
    call = _sgemm_call(out, a, b, add)
    if call is None or _lib.rnnkit_defer_sgemm(*call[0]):
        return False
    keep.extend(call[1])
    return True


def join_deferred() -> None:
    """Run the deferred products still queued, on the caller beside the helper, and wait for all."""
    if _lib is not None:
        _lib.rnnkit_defer_join()


def softmax_exps(z: np.ndarray, row_scale: np.ndarray | None = None, out: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(row_max (N,), exps (N, V), row_sum (N,))`` of float32 logits ``z (N, V)``: ``exps = exp(z -
    row_max)`` (0 below -87, as ``kernels.softmax_exps``) and its row sums, NaN for a row holding a
    NaN; rows shared between the caller and the helper thread (a 10k-way softmax over 700 rows: 7M
    exponentials). ``row_scale (N,)`` float32: each row of ``exps`` comes back times ``row_scale /
    row_sum`` instead (the probabilities, scaled), in the same pass, while the row is in cache.
    ``out``: a C-contiguous float32 ``(N, V)`` array for ``exps``, or None for a new one.
    None where this cannot run (no extension, other dtypes or layouts, or one BLAS thread allowed:
    no second thread of rnnkit's then either)."""
    if (_lib is None or z.dtype != np.float32 or z.ndim != 2 or z.size == 0
            or (z.strides[1] != 4 and z.shape[1] > 1) or threads() < 2):
        return None
    N, V = z.shape
    if row_scale is not None:
        row_scale = np.ascontiguousarray(row_scale, dtype=np.float32)
        if row_scale.shape != (N,):
            raise ValueError(f"softmax_exps expected row_scale of shape ({N},), got {row_scale.shape}")
    if out is not None and (out.shape != (N, V) or out.dtype != np.float32 or not out.flags.c_contiguous):
        raise ValueError(f"softmax_exps expected out as a C-contiguous float32 ({N}, {V}) array")
    row_max, row_sum = np.empty(N, np.float32), np.empty(N, np.float32)
    exps = np.empty((N, V), np.float32) if out is None else out
    if _lib.rnnkit_softmax_exps2(N, V, z.ctypes.data, _ld(z), exps.ctypes.data, max(1, V), row_max.ctypes.data,
                                 row_sum.ctypes.data, None if row_scale is None else row_scale.ctypes.data):
        return None
    return row_max, exps, row_sum


# From this many floats an optimiser's pass over an array runs on two cores (``axpby``, ``sum_squares``):
# below, the hand-over costs more than the second core's bandwidth saves
FLAT_MIN = 1 << 18


def _flat(x: np.ndarray) -> bool:
    return (_lib is not None and x.dtype == np.float32 and x.flags.c_contiguous and x.size >= FLAT_MIN
            and threads() >= 2)


def axpby(y: np.ndarray, alpha: float, x: np.ndarray | None, beta: float = 1.0) -> bool:
    """``y[:] = beta * y + alpha * x`` in place (``x`` None: ``y *= beta``; ``beta`` 0: ``y``'s old
    values are not read, as BLAS reads no ``C`` then, so ``axpby(y, 0, None, 0)`` zeroes even NaNs), a
    block of the array on the caller and one on the helper thread: one core reaches about 60% of the
    two cores' memory bandwidth (an SGD update of 80 MB: 8 ms on one, 6 on two). False, and nothing
    done, where it does not run: no extension, not float32 or not contiguous, under ``FLAT_MIN``
    floats, one BLAS thread allowed."""
    if not _flat(y) or (x is not None and (x.shape != y.shape or x.dtype != y.dtype or not x.flags.c_contiguous)):
        return False
    return _lib.rnnkit_axpby2(y.size, alpha, None if x is None else x.ctypes.data, beta, y.ctypes.data) == 0


def sum_squares(x: np.ndarray) -> float | None:
    """``sum(x**2)`` of a float32 array on two cores as ``axpby`` (float32 sums over runs of 1024
    elements, added up in float64), or None where that does not run."""
    return _lib.rnnkit_sum_squares2(x.size, x.ctypes.data) if _flat(x) else None
