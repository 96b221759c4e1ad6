"""Time series in, checked: validation, CSV reading, shipped classical series, scaling, windows.

A *series* here is a pandas ``DataFrame`` of shape ``(N, C)`` — ``N`` time steps, ``C`` numeric
channels — with a regular index: a ``DatetimeIndex`` with an inferable frequency, or integers in
steps of one constant size. :func:`as_frame` turns NumPy arrays and pandas objects into that form
and refuses, with an error that says where and what to do, anything a forecaster cannot use:
missing values, non-numeric columns, duplicated, unsorted or irregular timestamps.

pandas is imported inside the functions, so ``import rnnkit`` stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["SeriesError", "as_frame", "read_series_csv", "future_index", "classical_series",
           "CLASSICAL", "Scaler", "season_length"]


class SeriesError(ValueError):
    """A series a forecaster cannot use; the message says where the problem is and what to do."""


def _pd():
    import pandas as pd

    return pd


def infer_freq(index) -> str | None:
    """The frequency string of a ``DatetimeIndex`` (its own, or inferred; None if irregular)."""
    import warnings

    pd = _pd()
    if index.freq is not None:
        return index.freqstr
    if len(index) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3 announces an offset return type; we want the string
        freq = pd.infer_freq(index)
    return freq if freq is None or isinstance(freq, str) else freq.freqstr


def _where(labels, limit: int = 5) -> str:
    labels = [str(x) for x in labels]
    more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
    return ", ".join(labels[:limit]) + more


def as_frame(data, *, interpolate: bool = False, name: str = "series"):
    """Check ``data`` and return it as a float64 ``DataFrame (N, C)`` with a regular index.

    ``data``: a 1-D or 2-D NumPy array (integer index ``0..N-1``; columns ``y`` or ``y0, y1, ..``),
    a pandas ``Series`` (one channel, named after the series or ``y``) or ``DataFrame``. The index
    must be a ``DatetimeIndex`` or integers, sorted, without duplicates, evenly spaced.
    ``interpolate=True`` fills missing values linearly in time (and the edges with the nearest
    value) instead of refusing them. ``name`` says which series an error is about.
    """
    pd = _pd()
    if isinstance(data, np.ndarray) or isinstance(data, (list, tuple)):
        arr = np.asarray(data)
        if arr.ndim == 1:
            frame = pd.DataFrame({"y": arr})
        elif arr.ndim == 2:
            frame = pd.DataFrame(arr, columns=["y"] if arr.shape[1] == 1 else [f"y{i}" for i in range(arr.shape[1])])
        else:
            raise SeriesError(f"{name}: expected a 1-D (time,) or 2-D (time, channels) array, got shape {arr.shape}")
    elif isinstance(data, pd.Series):
        frame = data.to_frame(name=str(data.name) if data.name is not None else "y")
    elif isinstance(data, pd.DataFrame):
        frame = data.copy()
        frame.columns = [str(c) for c in frame.columns]
    else:
        raise TypeError(f"{name}: expected a NumPy array or a pandas Series/DataFrame, got {type(data).__name__}")
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise SeriesError(f"{name}: the series is empty (shape {frame.shape}); give at least one column of values")
    _check_numeric(frame, name)
    _check_index(frame.index, name)
    frame = frame.astype(np.float64)
    if isinstance(frame.index, pd.DatetimeIndex) and frame.index.freq is None and len(frame) >= 3:
        frame.index = pd.DatetimeIndex(frame.index, freq=infer_freq(frame.index))
    missing = frame.isna()
    if missing.to_numpy().any():
        if not interpolate:
            parts = [f"column '{c}' at {_where(frame.index[missing[c].to_numpy()])}"
                     for c in frame.columns if missing[c].any()]
            raise SeriesError(
                f"{name}: {int(missing.to_numpy().sum())} missing values ({'; '.join(parts)}). Fill them "
                "yourself, or pass interpolate=True (CLI: --interpolate) to fill them linearly in time")
        if missing.all(axis=0).any():
            empty = [c for c in frame.columns if missing[c].all()]
            raise SeriesError(f"{name}: columns {empty} have no values at all; drop them")
        method = "time" if isinstance(frame.index, pd.DatetimeIndex) else "index"
        frame = frame.interpolate(method=method, limit_direction="both")
    if not np.isfinite(frame.to_numpy()).all():
        bad = frame.index[~np.isfinite(frame.to_numpy()).all(axis=1)]
        raise SeriesError(f"{name}: infinite values at {_where(bad)}; replace them")
    return frame


def _check_numeric(frame, name: str) -> None:
    pd = _pd()
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            converted = pd.to_numeric(s, errors="coerce")
            bad = s[converted.isna() & s.notna()]
            example = f" (e.g. {bad.iloc[0]!r} at {bad.index[0]})" if len(bad) else ""
            raise SeriesError(
                f"{name}: column '{col}' is not numeric: dtype {s.dtype}{example}. Forecasting needs numbers: "
                f"choose the numeric columns (CLI: --column NAME), or convert it with pd.to_numeric")


def _check_index(index, name: str) -> None:
    pd = _pd()
    if isinstance(index, pd.DatetimeIndex):
        pass
    elif pd.api.types.is_integer_dtype(index):
        pass
    else:
        raise SeriesError(
            f"{name}: expected a DatetimeIndex or an integer index, got {type(index).__name__} of dtype "
            f"{index.dtype}; parse dates with pd.to_datetime, or reset_index() for positions")
    if index.has_duplicates:
        dup = index[index.duplicated(keep="first")].unique()
        raise SeriesError(
            f"{name}: duplicated timestamps {_where(dup)}; aggregate them, e.g. df.groupby(level=0).mean()")
    if not index.is_monotonic_increasing:
        raise SeriesError(f"{name}: the index is not sorted in time; sort it with df.sort_index()")
    if len(index) < 3:
        return
    if isinstance(index, pd.DatetimeIndex):
        if infer_freq(index) is not None:
            return
        steps = np.diff(index.asi8)
    else:
        steps = np.diff(index.to_numpy().astype(np.int64))
    typical = np.bincount(np.unique(steps, return_inverse=True)[1]).argmax()
    common = np.unique(steps)[typical]
    odd = np.flatnonzero(steps != common)
    if len(odd):
        where = _where(f"{index[i]} -> {index[i + 1]}" for i in odd)
        step = pd.Timedelta(int(common), unit=index.unit) if isinstance(index, pd.DatetimeIndex) else int(common)
        raise SeriesError(
            f"{name}: irregular timestamps: the usual step is {step} but {len(odd)} steps differ ({where}). "
            "Put the series on a regular grid, e.g. df.resample('D').mean() or df.asfreq('D') (then "
            "interpolate=True fills the gaps)")


def read_series_csv(path: str | Path, *, columns: list[str] | None = None, date_column: str | None = None,
                    interpolate: bool = False):
    """Read a CSV file into a checked series (see :func:`as_frame`).

    The date column is ``date_column`` if given, else the first column whose name looks like a date
    (``date, time, timestamp, ds, month, year, ...``) or whose values all parse as dates; without one
    the rows are numbered. ``columns`` selects the value columns (default: every other column).
    """
    pd = _pd()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"series file '{path}' does not exist; check the path")
    raw = pd.read_csv(path)
    if date_column is not None and date_column not in raw.columns:
        raise SeriesError(f"'{path}': no column '{date_column}' for dates; the columns are {list(raw.columns)}")
    date_col = date_column if date_column is not None else _detect_date_column(raw, exclude=columns or [])
    if date_col is not None:
        values = raw[date_col]
        if pd.api.types.is_integer_dtype(values):
            index = pd.Index(values.to_numpy(), name=date_col)
        else:
            try:
                index = pd.DatetimeIndex(pd.to_datetime(values, format="mixed"), name=date_col)
            except (ValueError, TypeError) as err:
                raise SeriesError(f"'{path}': column '{date_col}' does not parse as dates ({err}); "
                                  "name another with date_column (CLI: --date-column)") from None
        raw = raw.drop(columns=[date_col]).set_index(index)
    if columns is not None:
        unknown = [c for c in columns if c not in raw.columns]
        if unknown:
            raise SeriesError(f"'{path}': no columns {unknown}; the value columns are {list(raw.columns)}")
        raw = raw[list(columns)]
    return as_frame(raw, interpolate=interpolate, name=f"'{path}'")


DATE_NAMES = ("date", "datetime", "time", "timestamp", "ds", "period", "month", "day", "week", "year", "dt")


def _detect_date_column(raw, *, exclude: list[str]) -> str | None:
    pd = _pd()
    for col in raw.columns:
        if col in exclude:
            continue
        s = raw[col]
        if str(col).strip().lower() in DATE_NAMES:
            return col
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            parsed = pd.to_datetime(s, errors="coerce", format="mixed")
            if parsed.notna().all():
                return col
    return None


def future_index(index, horizon: int):
    """The ``horizon`` time stamps after ``index`` (same frequency / integer step)."""
    pd = _pd()
    if isinstance(index, pd.DatetimeIndex):
        freq = infer_freq(index)
        if freq is None:
            raise SeriesError("cannot extend an index with no inferable frequency; put it on a regular grid")
        return pd.date_range(index[-1], periods=horizon + 1, freq=freq, name=index.name)[1:]
    step = int(index[-1] - index[-2]) if len(index) > 1 else 1
    return pd.Index(index[-1] + step * np.arange(1, horizon + 1), name=index.name)


def season_length(index) -> int:
    """A season length for the index's frequency (hourly 24, daily 7, weekly 52, monthly 12,
    quarterly 4, otherwise 1)."""
    pd = _pd()
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 3:
        return 1
    freq = infer_freq(index)
    if freq is None:
        return 1
    code = freq.lstrip("0123456789").split("-")[0].upper()
    for prefix, m in (("MIN", 60), ("H", 24), ("D", 7), ("B", 5), ("W", 52), ("M", 12), ("Q", 4)):
        if code.startswith(prefix):
            return m
    return 1


@dataclass(frozen=True)
class Classical:
    name: str
    description: str
    season: int


CLASSICAL = {
    "co2": Classical("co2", "Mauna Loa CO2 (ppm), weekly 1958-2001 averaged to monthly, 526 months", 12),
    "elnino": Classical("elnino", "El Nino sea surface temperature (deg C), monthly 1950-2010, 732 months", 12),
    "sunspots": Classical("sunspots", "Wolf's yearly sunspot numbers 1700-2008, 309 years (cycle ~11)", 11),
    "nile": Classical("nile", "Nile river yearly flow at Aswan (10^8 m^3), 1871-1970, 100 years", 1),
}


def classical_series(name: str):
    """A classical series shipped with statsmodels (no download): ``(pd.Series, season_length)``.

    ``co2`` is averaged from weekly to monthly (its weekly gaps disappear in the mean); ``elnino`` is
    its 61 x 12 table read row by row.
    """
    pd = _pd()
    if name not in CLASSICAL:
        raise ValueError(f"unknown classical series {name!r}; choose one of {sorted(CLASSICAL)}")
    from statsmodels import datasets

    if name == "co2":
        s = datasets.co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
    elif name == "elnino":
        table = datasets.elnino.load_pandas().data
        values = table.drop(columns=["YEAR"]).to_numpy().reshape(-1)
        start = f"{int(table['YEAR'].iloc[0])}-01-01"
        s = pd.Series(values, index=pd.date_range(start, periods=len(values), freq="MS"))
    elif name == "sunspots":
        d = datasets.sunspots.load_pandas().data
        s = pd.Series(d["SUNACTIVITY"].to_numpy(), index=pd.Index(d["YEAR"].astype(int).to_numpy(), name="year"))
    else:
        d = datasets.nile.load_pandas().data
        s = pd.Series(d["volume"].to_numpy(), index=pd.Index(d["year"].astype(int).to_numpy(), name="year"))
    s.name = name
    return s, CLASSICAL[name].season


class Scaler:
    """Per-series, per-channel standardisation ``z = (y - mean) / std``, learned on training data only.

    ``mean, std``: ``(S, C)`` for ``S`` series of ``C`` channels. A constant channel gets ``std = 1``.
    """

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean, self.std = np.asarray(mean, np.float64), np.asarray(std, np.float64)

    @classmethod
    def fit(cls, series: list[np.ndarray]) -> Scaler:
        """``series``: list of ``(N_s, C)`` arrays (the training parts)."""
        mean = np.stack([s.mean(axis=0) for s in series])
        std = np.stack([s.std(axis=0) for s in series])
        std = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
        return cls(mean, std)

    def transform(self, values: np.ndarray, s: int) -> np.ndarray:
        return (values - self.mean[s]) / self.std[s]

    def inverse(self, z: np.ndarray, s: int) -> np.ndarray:
        return z * self.std[s] + self.mean[s]
