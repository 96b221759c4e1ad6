"""Input validation at the engine's boundary: errors say what was expected and what came."""

from __future__ import annotations

import numpy as np


def check_float_array(
    owner: str, name: str, value, *, dims: tuple, dtype: np.dtype, legend: str
) -> np.ndarray:
    """Check that ``value`` is a finite array of ``dtype`` whose shape matches ``dims``.

    ``dims`` holds an int for a fixed size or ``None`` for any size; ``legend`` is the shape as the
    user should read it, e.g. ``"(batch, time, 32)"``.
    """
    arr = np.asarray(value)
    if arr.ndim != len(dims) or any(d is not None and d != s for d, s in zip(dims, arr.shape)):
        raise ValueError(f"{owner} expected {name} of shape {legend}, got {tuple(arr.shape)}")
    if arr.dtype != dtype:
        raise TypeError(
            f"{owner} expected {name} of dtype {np.dtype(dtype).name}, got {arr.dtype.name}; "
            f"convert it with .astype(np.{np.dtype(dtype).name}) or build the layer with "
            f"dtype=np.{arr.dtype.name}"
        )
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{owner} got a non-finite value (NaN or inf) in {name} at index {tuple(bad.tolist())}; "
            "clean or impute the data before feeding it"
        )
    return arr


def check_lengths(owner: str, lengths, *, batch: int, time: int) -> np.ndarray:
    """Check per-sequence lengths: integers in ``[1, time]``, one per batch row."""
    arr = np.asarray(lengths)
    if arr.shape != (batch,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{owner} expected lengths as {batch} integers (one per sequence), "
            f"got {arr.dtype.name} array of shape {tuple(arr.shape)}"
        )
    if arr.size and (arr.min() < 1 or arr.max() > time):
        raise ValueError(
            f"{owner} expected every length in [1, {time}] (the time axis of x), "
            f"got min {arr.min()} and max {arr.max()}"
        )
    return arr.astype(np.int64)


def check_indices(owner: str, name: str, value, *, upper: int) -> np.ndarray:
    """Check an integer index array with every entry in ``[0, upper)``."""
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{owner} expected {name} of an integer dtype, got {arr.dtype.name}")
    if arr.size and (arr.min() < 0 or arr.max() >= upper):
        raise ValueError(
            f"{owner} expected {name} in [0, {upper}), got values from {arr.min()} to {arr.max()}; "
            "an id outside the vocabulary usually means data encoded with another vocabulary"
        )
    return arr
