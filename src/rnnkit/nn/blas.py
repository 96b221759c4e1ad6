"""How many threads NumPy's BLAS uses, switched cheaply around the code that cares.

The layers of a wavefront (``wavefront.py``) run on their own threads, each with its own products,
so each wants a single-threaded BLAS. (A rule that also gave batches of up to 8 one thread was
dropped: measured again on a quiet machine, two threads were faster at every batch from 1 to 8, in
layers and in the streaming step.) ``threadpoolctl`` finds the BLAS libraries; without it nothing is
switched.
"""

from __future__ import annotations

from contextlib import contextmanager

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


@contextmanager
def single_threaded():
    """A context in which NumPy's BLAS uses one thread. It sets the libraries' thread count
    directly, ~3 us in all, where ``threadpoolctl``'s ``limit`` context costs ~20 us."""
    libs = _blas_libraries()
    before = [lib.get_num_threads() for lib in libs]
    for lib in libs:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libs, before):
            lib.set_num_threads(n)
