"""Products with a fixed right operand, ``a @ W``, through a kernel that packs ``W`` once (``_packed.c``).

Why: the serial step of a recurrent layer is a narrow product, ``h_prev (B, H) @ W_h (H, G*H)`` forward
and ``dA (B, G*H) @ W_h^T`` backward, with the same ``W_h`` at every step. A BLAS call packs its
operands into its own layout on every call; for LSTM shape (a), ``(20, 650) @ (650, 2600)``, re-packing
``W_h`` is 6.8 MB of memory traffic per step next to 34M multiply-adds. Packed once per sequence, the
steps' products ran 1.04-1.30x OpenBLAS's rate on one thread, and whole layers 2-14% faster
(25-30% at batch 1; ``benchmarks/packed_ab.py``).

The kernel is single-threaded: it serves the wavefront (``wavefront.py``), whose layers run on one core
each, and the compiled span loops (``kernels.py``), which call it by address without a Python round
trip per step, at batches up to ``Cell.LOOP_PACKED_BATCH`` (beyond that BLAS on all threads wins). A
batch of one has its own kernel (a row times four panels at a time). Float32 only, x86-64 with AVX2 and FMA; elsewhere, where the extension was not built (no C
compiler at install), or with ``RNNKIT_PACKED=0``, ``Product`` runs NumPy's product instead, and the
results differ only in the rounding of the sums. The tests compare the two.
"""

from __future__ import annotations

import ctypes
import os
from importlib.util import find_spec

import numpy as np


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
    lib.rnnkit_packed_matmul.argtypes = [long, long, long, ptr, long, ptr, ptr, long, ptr, long]
    lib.rnnkit_packed_matmul.restype = ctypes.c_int
    return lib


_lib = _load() if os.environ.get("RNNKIT_PACKED", "1") != "0" else None
# False sends every product through NumPy (the tests flip it to compare the two)
ENABLED = _lib is not None
# the kernel's address, for the compiled span loops (``kernels._add_product``) to call it directly
ADDRESS = ctypes.cast(_lib.rnnkit_packed_matmul, ctypes.c_void_p).value if _lib is not None else 0


def available(dtype) -> bool:
    """True when products in ``dtype`` can run through the packed kernel."""
    return ENABLED and np.dtype(dtype) == np.float32


class PackedMatrix:
    """``W (K, N)`` float32, packed for ``a @ W``. Read when built: later changes to ``W`` are not seen."""

    def __init__(self, W: np.ndarray) -> None:
        if W.dtype != np.float32 or W.ndim != 2:
            raise TypeError(f"PackedMatrix expected a 2-d float32 array, got {W.dtype.name} of shape {W.shape}")
        if W.size == 0:
            raise ValueError(f"PackedMatrix expected a non-empty matrix, got shape {W.shape}")
        self.shape = W.shape
        K, N = W.shape
        size = _lib.rnnkit_packed_size(K, N)
        raw = np.empty(size + 16, dtype=np.float32)
        start = (-raw.ctypes.data % 64) // 4  # panels on cache-line boundaries: no split loads
        self.data = raw[start : start + size]
        itemsize = W.itemsize
        _lib.rnnkit_pack(W.ctypes.data, K, N, W.strides[0] // itemsize, W.strides[1] // itemsize,
                         self.data.ctypes.data)

    def matmul(self, a: np.ndarray, out: np.ndarray, add: np.ndarray | None = None) -> np.ndarray:
        """``out[:] = a @ W (+ add)``; ``a (M, K)``, ``out, add (M, N)``, float32 rows contiguous
        (``add`` may be ``out``). Releases the GIL while it runs."""
        K, N = self.shape
        M = a.shape[0]
        for name, x, cols in (("a", a, K), ("out", out, N), ("add", add, N)):
            if x is not None and (x.dtype != np.float32 or x.shape != (M, cols) or x.strides[1] != 4):
                raise ValueError(f"packed matmul expected {name} as float32 ({M}, {cols}) with contiguous "
                                 f"rows, got {x.dtype.name} {x.shape} strides {x.strides}")
        return self._matmul(a, out, add) if M else out

    def _matmul(self, a: np.ndarray, out: np.ndarray, add: np.ndarray | None) -> np.ndarray:
        """``matmul`` without its checks: for ``Product``, whose callers (the cells) pass operands of
        the right shapes at every step."""
        K, N = self.shape
        status = _lib.rnnkit_packed_matmul(a.shape[0], N, K, a.ctypes.data, a.strides[0] // 4,
                                           self.data.ctypes.data, out.ctypes.data, out.strides[0] // 4,
                                           None if add is None else add.ctypes.data,
                                           0 if add is None else add.strides[0] // 4)
        if status:
            raise MemoryError("packed matmul could not allocate its workspace")
        return out


_NO_MATRIX = np.zeros((1, 1), np.float32)  # what a compiled loop gets for an operand it does not read
_NO_PACKED = np.zeros(1, np.float32)


class Product:
    """``product(a, out, add=None)``: ``out[:] = a @ W (+ add)`` for a fixed ``W``, through the packed
    kernel (``packed``, where available) or NumPy's BLAS."""

    def __init__(self, W: np.ndarray, packed: bool = False) -> None:
        self.packed = PackedMatrix(W) if packed and available(W.dtype) else None
        self.W = W if self.packed is not None else np.ascontiguousarray(W)

    def loop_operands(self) -> tuple[np.ndarray, int, np.ndarray]:
        """``(W, address, W_packed)`` for a compiled span loop: the kernel's address and ``W`` packed,
        or ``W`` itself (contiguous), 0 and a placeholder when the product runs without it."""
        if self.packed is not None:
            return _NO_MATRIX, ADDRESS, self.packed.data
        return self.W, 0, _NO_PACKED

    def __call__(self, a: np.ndarray, out: np.ndarray, add: np.ndarray | None = None) -> np.ndarray:
        if self.packed is not None:
            return self.packed._matmul(a, out, add)
        np.matmul(a, self.W, out=out)
        if add is not None:
            out += add
        return out
