"""Arrays a layer or a loss refills on every call, kept from one call to the next.

Why: a recurrent layer's per-sequence buffers (pre-activations, states, gate values, their gradients,
``W_h`` packed) are megabytes each (26 MB for an LSTM's gates at shape (c): batch 64, 100 steps,
hidden 256). Allocated anew on every call, blocks that size go back to the operating system and are
faulted in again, and with transparent huge pages each fault zeroes up to 2 MB: measured at shape (c)
with its steps on two cores, every other call took ~1,000 page faults, and its input projection 72-87
ms instead of 23-27. Kept, the steps of a training loop allocate nothing once their shapes repeat.

A kept array is handed out again only when nothing else holds it (its reference count): a state from
``state_after``, or an output that a caller keeps, is never overwritten; the call then takes a new
array, and keeps that one instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

# ``empty(name, shape, dtype)``: an uninitialised array, from a ``Workspace`` or new (``fresh``)
Empty = Callable[[str, tuple, np.dtype], np.ndarray]


def fresh(name: str, shape: tuple, dtype) -> np.ndarray:
    """A new uninitialised array (``name`` unused): the ``Empty`` of callers that keep nothing."""
    return np.empty(shape, dtype=dtype)


class Workspace:
    """Named arrays kept between calls; ``empty`` is an ``Empty``."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def empty(self, name: str, shape: tuple, dtype) -> np.ndarray:
        """An uninitialised ``shape`` array of ``dtype``: the one kept under ``name`` if it has that
        shape and dtype and nothing outside this workspace holds it (no view of it either), else a new
        one, kept from now on in its place."""
        shape, dtype = tuple(int(n) for n in shape), np.dtype(dtype)
        kept = self._arrays.get(name)
        # held by the dict, by ``kept`` and by getrefcount's argument: nothing else
        if kept is not None and kept.shape == shape and kept.dtype == dtype and sys.getrefcount(kept) <= 3:
            return kept
        array = np.empty(shape, dtype=dtype)
        self._arrays[name] = array
        return array
