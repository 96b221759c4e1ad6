"""Data-parallel training over MPI: a tiny communicator layer and one contiguous gradient buffer.

``mpiexec -n N rnnkit train ...`` runs N copies of the same program (ranks). Every rank builds
the same model from the same seed, reads its own contiguous share of the ``B`` parallel token
streams (``B / N`` rows) and runs forward and backward on it. The gradients of all ranks are then
summed with **one** in-place ``Allreduce`` on **one** contiguous buffer per step, before clipping
and the optimiser step, so that every rank applies the same update and holds the same weights.

Why the sum is the full batch's gradient: the loss is a mean over the ``B * L`` targets of a
window; rank ``r`` computes the mean over its ``B_r * L`` targets and scales its gradient by its
share ``B_r / B``, so that ``sum_r (B_r / B) * mean_r = mean`` (the per-rank means are over equal
token counts because every stream has a target at every position of a window).

Nothing here imports ``mpi4py`` unless the process was started by an MPI launcher with more than
one process (:func:`world`): a single process needs no MPI at all.

Test hook (for tests only, documented so nobody is surprised by it): ``RNNKIT_TEST_FAIL=R:K:MODE``
makes rank ``R`` fail after training step ``K``, with ``MODE`` one of ``kill`` (SIGKILL, as the
out-of-memory killer would), ``exit`` (``os._exit(1)``, no clean-up) or ``raise`` (a Python
exception). ``tests/distributed`` uses it to prove that a lost rank ends the job instead of
hanging it.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..nn.base import Layer

__all__ = ["MPISetupError", "SingleProcess", "MPICommunicator", "world", "FlatGradients", "abort_on_error", "fail_for_test"]

# Set by the usual launchers in every process they start: MPICH's Hydra, Intel MPI and Slurm's
# ``srun --mpi=pmi2`` (PMI_SIZE), Open MPI's mpirun (OMPI_COMM_WORLD_SIZE), MVAPICH (MV2_...).
_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_TEST_FAIL = "RNNKIT_TEST_FAIL"


class MPISetupError(ValueError):
    """The processes were launched in a way that cannot train together (a ValueError, so that the
    CLI reports it as a usage error)."""


class SingleProcess:
    """The communicator of a run without MPI: rank 0 of 1; every collective is the identity."""

    rank = 0
    size = 1

    def allreduce_sum(self, buffer: np.ndarray) -> None:
        """Sum ``buffer`` over the ranks, in place (one rank: nothing to do)."""

    def broadcast(self, obj: Any, *, root: int = 0) -> Any:
        return obj

    def gather(self, obj: Any, *, root: int = 0) -> list | None:
        return [obj]

    def abort(self, code: int = 1) -> None:
        raise SystemExit(code)


class MPICommunicator:
    """The same operations on an ``mpi4py`` communicator (``MPI.COMM_WORLD`` by default).

    ``allreduce_sum`` is the one call per training step and sends the buffer as raw memory
    (upper-case ``Allreduce``); ``broadcast``/``gather`` are for small things (a validation
    perplexity, the carried hidden state for a checkpoint) and use mpi4py's object messages.
    """

    def __init__(self, comm=None) -> None:
        from mpi4py import MPI

        self._MPI = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()

    def allreduce_sum(self, buffer: np.ndarray) -> None:
        if buffer.ndim != 1 or not buffer.flags.c_contiguous:
            raise ValueError(f"allreduce_sum needs one contiguous 1-D buffer, got shape {buffer.shape} "
                             f"(contiguous: {buffer.flags.c_contiguous})")
        self.comm.Allreduce(self._MPI.IN_PLACE, buffer, op=self._MPI.SUM)

    def broadcast(self, obj: Any, *, root: int = 0) -> Any:
        return self.comm.bcast(obj, root=root)

    def gather(self, obj: Any, *, root: int = 0) -> list | None:
        return self.comm.gather(obj, root=root)

    def abort(self, code: int = 1) -> None:
        """End every rank of the job (``MPI_Abort``); the launcher then exits non-zero."""
        self.comm.Abort(code)


def launcher_size(environ=os.environ) -> int:
    """How many processes the MPI launcher started (1 when not started by one)."""
    for var in _LAUNCHER_SIZE_VARS:
        if environ.get(var, "").isdigit():
            return int(environ[var])
    return 1


def world():
    """The communicator for this process: MPI's world when an MPI launcher started more than one
    process (``mpiexec -n N`` with ``N > 1``), otherwise :class:`SingleProcess` (mpi4py is then
    not even imported).

    Raises :class:`MPISetupError` when launched as several processes but ``mpi4py`` is missing: the
    processes would otherwise each train on the whole batch and overwrite one another's files.
    """
    size = launcher_size()
    if size <= 1:
        return SingleProcess()
    try:
        comm = MPICommunicator()
    except ImportError as err:
        raise MPISetupError(
            f"started by an MPI launcher as {size} processes, but mpi4py cannot be imported ({err}); "
            "install it with: pip install 'rnnkit[mpi]' (mpi4py and the mpich that provides mpiexec)"
        ) from None
    if comm.size != size:
        raise MPISetupError(f"the MPI launcher announced {size} processes but MPI_COMM_WORLD has {comm.size}; "
                           "was mpi4py built against another MPI than the mpiexec used?")
    return comm


class FlatGradients:
    """Every parameter gradient of ``model`` as a view into one contiguous 1-D array.

    ``buffer`` is ``(n + extras,)``: the ``n`` gradient entries of all parameters, in
    ``named_parameters()`` order, followed by ``extras`` slots for scalars that travel in the same
    allreduce (the step's loss, stop votes). Each layer's ``grads[name]`` is re-pointed to its view
    (current values are copied in), so layers keep *adding* into their gradients as the layer
    contract says and the buffer holds them all. Build it **before** the optimiser, which captures
    the gradient arrays when it is constructed. A parameter shared by several layers (tying) gets
    one view, which every sharing layer's ``grads`` points to.
    """

    def __init__(self, model: Layer, *, extras: int = 0) -> None:
        entries = list(_walk_layers(model))
        dtypes = {param.dtype for _, _, param in entries}
        if len(dtypes) != 1:
            raise TypeError(f"FlatGradients needs one dtype for all parameters, got {sorted(map(str, dtypes))}")
        views: dict[int, np.ndarray] = {}
        sizes = {id(param): param.size for _, _, param in entries}
        n = sum(sizes.values())
        self.buffer = np.zeros(n + extras, dtype=dtypes.pop())  # (n + extras,)
        offset = 0
        for layer, name, param in entries:
            view = views.get(id(param))
            if view is None:
                view = self.buffer[offset : offset + param.size].reshape(param.shape)
                view[...] = layer.grads[name]
                views[id(param)] = view
                offset += param.size
            layer.grads[name] = view
        self.grads = self.buffer[:n]  # (n,)
        self.extras = self.buffer[n:]  # (extras,)
        self._model = model

    def check(self) -> None:
        """Raise if a layer re-bound a gradient array (the buffer would silently miss it)."""
        for name, _, grad in self._model.named_parameters():
            if grad.base is not self.buffer:
                raise RuntimeError(f"the gradient of '{name}' is no longer a view of the allreduce buffer: a layer "
                                   "re-bound it; layers must add into grads[name] in place (+=)")


def _walk_layers(layer: Layer):
    """``(layer, name, param)`` for every parameter entry of every layer, shared ones included."""
    for name, param in layer.params.items():
        yield layer, name, param
    for _, child in layer.children():
        yield from _walk_layers(child)


@contextmanager
def abort_on_error(comm, *, what: str = "rnnkit"):
    """With several ranks, turn an exception on any one rank into a clear message and the end of
    the whole job (``MPI_Abort``), instead of leaving the other ranks waiting forever in the next
    collective. With one process, exceptions pass through unchanged."""
    if comm.size == 1:
        yield
        return
    try:
        yield
    except SystemExit as err:
        if err.code not in (0, None):
            print(f"{what}: rank {comm.rank} of {comm.size} exited with {err.code}; aborting all ranks",
                  file=sys.stderr, flush=True)
            comm.abort(err.code if isinstance(err.code, int) else 1)
        raise
    except BaseException as err:  # noqa: BLE001 - any failure must end every rank
        traceback.print_exc()
        print(f"{what}: error on rank {comm.rank} of {comm.size}: {type(err).__name__}: {err}; "
              "aborting all ranks", file=sys.stderr, flush=True)
        comm.abort(2 if isinstance(err, (ValueError, FileNotFoundError, FileExistsError)) else 1)


def fail_for_test(rank: int, step: int, environ=os.environ) -> None:
    """The test hook described in the module docstring (``RNNKIT_TEST_FAIL=R:K:MODE``)."""
    spec = environ.get(_TEST_FAIL)
    if not spec:
        return
    r, k, mode = spec.split(":")
    if int(r) != rank or int(k) != step:
        return
    print(f"{_TEST_FAIL}: rank {rank} fails after step {step} ({mode})", file=sys.stderr, flush=True)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "exit":
        os._exit(1)
    raise RuntimeError(f"{_TEST_FAIL} asked rank {rank} to fail after step {step}")
