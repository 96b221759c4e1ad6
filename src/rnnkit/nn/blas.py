"""How many threads NumPy's BLAS uses, switched cheaply around the code that cares.

Two places run better on one BLAS thread: the layers of a wavefront (``wavefront.py``), each on its
own thread with its own products, and the time loop of a small batch, whose per-step products
``(B, H) @ (H, G*H)`` OpenBLAS runs faster on one thread than on two (``recurrent.py``).
``threadpoolctl`` finds the BLAS libraries; without it nothing is switched.
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
