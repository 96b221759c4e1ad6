"""Run a stack of recurrent layers as a wavefront: layer k on time span j while layer k+1 runs span j-1.

Why: a recurrent layer's time loop is serial, and at the batch sizes of language modelling each step
is a narrow product ``(B, H) @ (H, G*H)`` that a two-threaded BLAS runs far below its peak (profile
of LSTM shape (a), B=20 H=650: 90% of the time in those products at ~1/2 of the square-product
rate). But layer k+1 at step t needs only layer k's output up to step t, so the layers of a stack
are independent along a diagonal. Giving each layer its own thread with a *single-threaded* BLAS
keeps both cores busy with one product each — NumPy releases the GIL inside BLAS and inside ufunc
loops on large enough arrays. Backward runs the same way from the top layer down, reversed in time.

The steps' products run through ``packed.py``'s single-threaded kernel, which packs ``W_h`` (and
``W_h^T``) once per sequence where BLAS re-packs it at every step (float32, where the extension was
built; float64 stacks, and installs without it, run them through NumPy's BLAS held at one thread). Each
layer still hoists its input projection, now per span (one ``(span*B, I) @ (I, G*H)`` product), and
forms its weight gradients with one product over the whole sequence once its last span is done.
The results equal the layer-by-layer loop up to rounding of the per-span products; the tests compare
the two paths. Since each layer's steps can share their products between two cores themselves
(``packed.TWO_CORES``; 0.86-0.97 of this wavefront's time in shape (a) for every cell, with no
pipeline to fill), the wavefront serves the stacks that path does not (``Cell.two_cores``): batches
above 32 with steps of at least 4M multiply-adds. ``threadpoolctl`` limits the BLAS threads; without it
the stack runs layer by layer.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from .blas import single_threaded

# False turns the wavefront off everywhere (``Recurrent.use_wavefront`` per layer); so does the
# environment variable RNNKIT_WAVEFRONT=0, for processes that share the cores (MPI ranks, Dask workers)
ENABLED = os.environ.get("RNNKIT_WAVEFRONT", "1") != "0"
# Below this many multiply-adds per step (batch * hidden * gates * hidden) the hand-overs, and the
# two threads' Python code taking turns with the GIL, cost more than the overlap saves: layer by layer
# was 10-25% faster for every cell in shape (b) (LSTM 3.2M), the wavefront 10% faster in (a) (RNN 8.5M).
MIN_STEP_WORK = 1 << 22


def available() -> bool:
    """True when a wavefront can pay off: at least two cores and threadpoolctl to pin BLAS threads."""
    if not ENABLED or (os.cpu_count() or 1) < 2:
        return False
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return False
    return True


def spans(T: int, n: int = 8) -> list[tuple[int, int]]:
    """Split ``[0, T)`` into about ``n`` spans ``[t0, t1)``. More spans shorten the pipeline's fill
    (one span per extra layer) but make each span's input product narrower and add hand-offs."""
    size = max(1, -(-T // n))
    return [(t0, min(T, t0 + size)) for t0 in range(0, T, size)]


def run(n_stages: int, n_spans: int, work: Callable[[int, int], None],
        start: Callable[[int], None] | None = None, finish: Callable[[int], None] | None = None) -> None:
    """Call ``work(k, j)`` for every stage ``k`` and span ``j``, in order of ``j`` within a stage,
    stage ``k`` on its own thread, and ``(k, j)`` only after ``(k-1, j)`` has finished.

    ``start(k)`` runs on stage k's thread before its first span, ``finish(k)`` after its last: the
    next stage does not wait for either (set-up and weight gradients overlap the other stages).
    """
    done = [[threading.Event() for _ in range(n_spans)] for _ in range(n_stages)]
    errors: list[BaseException] = []

    def stage(k: int) -> None:
        try:
            if start is not None:
                start(k)
            for j in range(n_spans):
                if k:
                    done[k - 1][j].wait()
                if errors:
                    return
                work(k, j)
                done[k][j].set()
            if finish is not None:
                finish(k)
        except BaseException as exc:  # re-raised on the calling thread below
            errors.append(exc)
        finally:
            for event in done[k]:  # never leave the next stage waiting
                event.set()

    with single_threaded():  # each stage runs its own products
        threads = [threading.Thread(target=stage, args=(k,), daemon=True) for k in range(n_stages - 1)]
        for thread in threads:
            thread.start()
        stage(n_stages - 1)  # the last stage runs on the calling thread
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
