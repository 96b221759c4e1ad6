"""How many threads NumPy's BLAS uses, switched cheaply around the code that cares, and products
split over two threads of our own.

The layers of a wavefront (``wavefront.py``) run on their own threads, each with its own products,
so each wants a single-threaded BLAS. A layer whose steps run on two cores (``packed.TWO_CORES``),
and the products around it (an output layer, the gradient norm), keep OpenBLAS to one thread and
split their larger products between the caller and the extension's helper thread (``matmul``):
OpenBLAS's own workers, once woken, spin for ~0.1 s after each call and take the core the steps
need. (A rule that also gave batches of up to 8 one thread was dropped: measured again on a quiet
machine, two threads were faster at every batch from 1 to 8, in layers and in the streaming step.)
Inside ``deferred()`` (a backward pass), the weight gradients' products are handed whole to that
helper and run beside the caller's next serial steps, which then run on one core.
``threadpoolctl`` finds the BLAS libraries; without it nothing is switched.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import numpy as np

_blas_libs = None  # threadpoolctl's controllers of the loaded BLAS libraries, found once


def _blas_libraries() -> list:
    global _blas_libs
    if _blas_libs is None:  # inspecting the loaded libraries costs milliseconds: do it once
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas_libs = []
        else:
            _blas_libs = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    return _blas_libs


_counts = None  # OpenBLAS's own thread-count variables, where found


def _openblas_counts() -> list:
    """OpenBLAS's ``blas_cpu_number``, the count its calls read, for each OpenBLAS NumPy loaded.

    ``openblas_set_num_threads`` (what ``threadpoolctl`` calls) also wakes every worker thread, and
    a woken worker spins for milliseconds: toggled around each product, that took the second core
    from the two-core products and halved their rate. Setting the variable wakes nobody; where the
    symbol is missing (another OpenBLAS build, another BLAS) the public call is used."""
    global _counts
    if _counts is None:
        import ctypes

        try:  # all or none: a BLAS left out would keep its threads
            _counts = [ctypes.c_int.in_dll(ctypes.CDLL(lib.filepath), "blas_cpu_number")
                       for lib in _blas_libraries() if lib.internal_api == "openblas"]
            if len(_counts) != len(_blas_libraries()):
                _counts = []
        except (OSError, ValueError):
            _counts = []
    return _counts


_single = {"depth": 0, "before": []}  # threads inside ``single_threaded()``, and the counts to restore
_single_lock = threading.Lock()


@contextmanager
def single_threaded():
    """A context in which NumPy's BLAS uses one thread, switched in ~1 us (see ``_openblas_counts``;
    ``threadpoolctl``'s ``limit`` context costs ~20 us). The count is the process's: it is restored
    when the last thread inside leaves (contexts of two threads may overlap in any order)."""
    counts = _openblas_counts()
    if counts:
        with _single_lock:
            if _single["depth"] == 0:
                _single["before"] = [c.value for c in counts]
                for c in counts:
                    c.value = 1
            _single["depth"] += 1
        try:
            yield
        finally:
            with _single_lock:
                _single["depth"] -= 1
                if _single["depth"] == 0:
                    for c, n in zip(counts, _single["before"]):
                        c.value = n
        return
    libs = _blas_libraries()
    before = [lib.get_num_threads() for lib in libs]
    for lib in libs:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libs, before):
            lib.set_num_threads(n)


def threads() -> int:
    """How many threads NumPy's BLAS may use here and now: 1 inside ``single_threaded()``, or where
    the user set ``OPENBLAS_NUM_THREADS=1`` (as for MPI ranks and Dask workers that share the cores).
    rnnkit starts its own second thread (``packed.TWO_CORES``, ``matmul(split=True)``) only where this
    is at least 2."""
    counts = _openblas_counts()
    if counts:
        return max(c.value for c in counts)
    return max((lib.get_num_threads() for lib in _blas_libraries()), default=os.cpu_count() or 1)


SPLIT_MIN_WORK = 1 << 20  # multiply-adds; below, a hand-over costs more than half the product saves

_scope = threading.local()  # the operands of this thread's deferred products, inside ``deferred()``


@contextmanager
def deferred():
    """A context in which ``matmul(..., defer=True)`` may hand its product to the extension's helper
    thread, which runs it while the caller goes on alone; every deferred product has run when the
    context exits (the outermost, where contexts nest). Meanwhile NumPy's BLAS runs one thread and
    the caller's own products run on the caller: a backward pass's weight gradients, which nothing
    reads before it ends, run beside the next layer's serial steps.

    Why: at batch 20 a step shared between two cores gains far less than a second core's worth
    (its product is split in small chunks, its element-wise work stays on the caller), while a product
    handed over whole runs at the second core's full rate (``benchmarks/probes.py defer``).
    """
    if getattr(_scope, "keep", None) is not None:
        yield
        return
    from .packed import join_deferred

    _scope.two = threads() >= 2  # else nothing is deferred or split (as for OPENBLAS_NUM_THREADS=1)
    _scope.keep = []
    try:
        with single_threaded():  # for the deferred products too, until they have all run
            try:
                yield
            finally:
                join_deferred()
    finally:
        _scope.keep = None


def matmul(out: np.ndarray, a: np.ndarray, b: np.ndarray, *, add: bool = False, split: bool = False,
           defer: bool = False) -> np.ndarray:
    """``out[:] = a @ b`` (``add``: ``out += a @ b``) for 2-d ``a (M, K)``, ``b (K, N)``, ``out (M, N)``.

    ``split``: without waking OpenBLAS's own threads (they spin on for ~0.1 s after each call and take
    the core of rnnkit's helper thread), where rnnkit's extension runs: from ``SPLIT_MIN_WORK``
    multiply-adds on two cores of our own (float32, two BLAS threads allowed), half on the caller and
    half on the extension's helper thread (``packed.matmul_two_cores``, the thread that shares the
    recurrent steps' products), each through NumPy's BLAS at one thread; smaller products on the
    caller alone. Otherwise, and without ``split``, NumPy's product as usual.

    ``defer`` (with ``split``): inside ``deferred()``, where rnnkit's helper thread may run, a product
    from ``SPLIT_MIN_WORK`` multiply-adds is queued for it and runs later: ``out`` must not be read
    before the context exits.
    """
    from .packed import ENABLED, defer_product, matmul_two_cores

    (M, K), N = a.shape, b.shape[1]
    keep = getattr(_scope, "keep", None)
    two = _scope.two if keep is not None else threads() >= 2
    if split and ENABLED and two:
        large = M * N * K >= SPLIT_MIN_WORK
        if large and defer and keep is not None and defer_product(out, a, b, add, keep):
            return out
        with single_threaded():
            if not large or not matmul_two_cores(out, a, b, add):
                _product(out, a, b, add)
            return out
    _product(out, a, b, add)
    return out


def add_column_sums(out: np.ndarray, a: np.ndarray, *, split: bool = False, defer: bool = False) -> None:
    """``out += a.sum(axis=0)`` for ``a (M, N)``, ``out (N,)``: a bias gradient. With ``split`` (float32)
    as the product ``ones (1, M) @ a`` through ``matmul``, so that inside ``deferred()`` it runs on the
    helper thread beside the caller's work instead of on the caller (2 ms for an LM's output layer at
    hidden 650); otherwise NumPy's sum."""
    if not (split and a.dtype == out.dtype == np.float32 and a.ndim == 2 and out.shape == (a.shape[1],)):
        out += a.sum(axis=0)
        return
    matmul(out[None, :], np.ones((1, a.shape[0]), dtype=a.dtype), a, add=True, split=True, defer=defer)


def _product(out: np.ndarray, a: np.ndarray, b: np.ndarray, add: bool) -> None:
    if add:
        out += a @ b
    else:
        np.matmul(a, b, out=out)
