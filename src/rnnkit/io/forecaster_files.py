"""Saved forecasters: weights, settings, scaling and the fitted histories in one safe checkpoint file.

Arrays: ``model.*`` (the network), ``scaler.mean/std`` and ``cov_scaler.mean/std`` ``(S, ·)``,
``series.{s}.values (N_s, C)``, ``series.{s}.index (N_s,)`` int64 (nanoseconds since the epoch for a
datetime index) and the same for ``covariates.{s}``. The JSON meta holds the settings, names, columns,
the index kind and frequency — everything ``predict()`` needs, nothing pickled. A model card
(``NAME.card.json``) is written beside the file; loading refuses a file of a newer format version.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .model_files import check_format, write_card

FORECASTER_KIND = "forecaster"
FORMAT_VERSION = 1


def _index_arrays(index) -> tuple[np.ndarray, dict]:
    import pandas as pd

    from ..data.series import infer_freq

    if isinstance(index, pd.DatetimeIndex):
        info = {"kind": "datetime", "freq": infer_freq(index),
                "tz": str(index.tz) if index.tz is not None else None, "name": index.name, "unit": index.unit}
        naive = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
        return naive.as_unit("ns").asi8.copy(), info
    return np.asarray(index, dtype=np.int64), {"kind": "integer", "name": index.name}


def _index_from(values: np.ndarray, info: dict):
    import pandas as pd

    if info["kind"] == "datetime":
        index = pd.DatetimeIndex(pd.to_datetime(values, unit="ns"), name=info.get("name")).as_unit(info["unit"])
        if info.get("tz"):
            index = index.tz_localize("UTC").tz_convert(info["tz"])
        return pd.DatetimeIndex(index, freq=info.get("freq"))
    return pd.Index(values, name=info.get("name"))


def _frames_to_arrays(prefix: str, frames) -> tuple[dict, list]:
    arrays, infos = {}, []
    for s, f in enumerate(frames):
        arrays[f"{prefix}.{s}.values"] = f.to_numpy(dtype=np.float64)
        arrays[f"{prefix}.{s}.index"], info = _index_arrays(f.index)
        infos.append(info)
    return arrays, infos


def _frames_from_arrays(prefix: str, arrays: dict, infos: list, columns: list[list[str]]):
    import pandas as pd

    return [pd.DataFrame(arrays[f"{prefix}.{s}.values"], columns=columns[s],
                         index=_index_from(arrays[f"{prefix}.{s}.index"], info)) for s, info in enumerate(infos)]


def save_forecaster(path: str | Path, fc, *, metrics: dict | None = None) -> Path:
    """Write a fitted :class:`~rnnkit.models.forecaster.Forecaster` atomically to ``path``, and its
    model card beside it (``NAME.card.json``; see :func:`write_forecaster_card`). ``metrics``: any
    JSON-able scores to record (e.g. a backtest's), kept in the checkpoint and on the card."""
    from .. import __version__

    if fc.net is None:
        raise ValueError("save() needs a fitted forecaster: call fit() first")
    arrays = {f"model.{k}": v for k, v in fc.net.state_dict().items()}
    arrays.update({"scaler.mean": fc.scaler_.mean, "scaler.std": fc.scaler_.std})
    series_arrays, series_info = _frames_to_arrays("series", fc.series_)
    arrays.update(series_arrays)
    cov_info = None
    if fc.covariates_ is not None:
        arrays.update({"cov_scaler.mean": fc.cov_scaler_.mean, "cov_scaler.std": fc.cov_scaler_.std})
        cov_arrays, cov_info = _frames_to_arrays("covariates", fc.covariates_)
        arrays.update(cov_arrays)
    meta = {"kind": FORECASTER_KIND, "forecaster_format_version": FORMAT_VERSION, "rnnkit_version": __version__,
            "config": fc.config.to_json(), "names": fc.names_, "container": fc.kind_, "columns": fc.columns_,
            "cov_columns": fc.cov_columns_, "series_columns": [list(f.columns) for f in fc.series_],
            "covariates_columns": [list(c.columns) for c in fc.covariates_] if fc.covariates_ else None,
            "series_index": series_info, "covariates_index": cov_info,
            "history": [float(v) for v in fc.history_], "metrics": metrics,
            "fit_seconds": getattr(fc, "fit_seconds_", None)}
    path = save_checkpoint(path, arrays, meta)
    write_forecaster_card(path, fc, meta)
    return path


def write_forecaster_card(path: Path, fc, meta: dict) -> Path:
    """The model card: settings (``architecture``), parameter count, per-series scaling in original
    units, a summary of each training series (length, first and last time stamp, frequency),
    the training losses and ``metrics``, library and format versions."""
    scaling = {name: {"columns": fc.columns_, "mean": fc.scaler_.mean[s].tolist(), "std": fc.scaler_.std[s].tolist()}
               for s, name in enumerate(fc.names_)}
    data = [{"name": name, "steps": len(f), "start": str(f.index[0]), "end": str(f.index[-1]),
             "frequency": info.get("freq")} for name, f, info in zip(fc.names_, fc.series_, meta["series_index"])]
    history = meta["history"]
    return write_card(path, meta, version_key="forecaster_format_version", fields={
        "architecture": meta["config"],
        "parameters": fc.net.num_parameters(),
        "targets": fc.columns_, "covariates": fc.cov_columns_,
        "scaling": scaling,
        "training_data": {"series": data, "total_steps": sum(len(f) for f in fc.series_)},
        "training": {"epochs_run": len(history), "final_loss": history[-1] if history else None,
                     "seconds": meta["fit_seconds"]},
        "metrics": meta["metrics"],
    })


def load_forecaster(path: str | Path):
    """Load a forecaster written by :func:`save_forecaster`, ready to ``predict``."""
    arrays, meta = load_checkpoint(path)
    return build_forecaster(path, arrays, meta)


def build_forecaster(path: str | Path, arrays: dict[str, np.ndarray], meta: dict):
    """A forecaster from a checkpoint's arrays and meta (see :func:`save_forecaster`); ``path`` names
    the file in errors. Refuses other kinds of file and newer format versions."""
    from ..data.series import Scaler
    from ..models.forecast_net import ForecastNet
    from ..models.forecaster import Forecaster, ForecasterConfig

    check_format(path, meta, kind=FORECASTER_KIND, version_key="forecaster_format_version", current=FORMAT_VERSION,
                 hint="; load language models with rnnkit.io.model_files.load_language_model")
    config = ForecasterConfig.from_json(meta["config"])
    fc = Forecaster(config, rng=np.random.default_rng(config.seed))
    fc.names_, fc.kind_, fc.columns_, fc.cov_columns_ = meta["names"], meta["container"], meta["columns"], \
        meta["cov_columns"]
    fc.series_ = _frames_from_arrays("series", arrays, meta["series_index"], meta["series_columns"])
    fc.scaler_ = Scaler(arrays["scaler.mean"], arrays["scaler.std"])
    fc.covariates_, fc.cov_scaler_ = None, None
    if meta["covariates_index"] is not None:
        fc.covariates_ = _frames_from_arrays("covariates", arrays, meta["covariates_index"],
                                             meta["covariates_columns"])
        fc.cov_scaler_ = Scaler(arrays["cov_scaler.mean"], arrays["cov_scaler.std"])
    fc.net = ForecastNet(cell=config.cell, n_targets=len(fc.columns_), n_covariates=len(fc.cov_columns_),
                         hidden_size=config.hidden_size, num_layers=config.num_layers, strategy=config.strategy,
                         horizon=config.horizon, outputs_per_value=config.outputs_per_value,
                         dropout=config.dropout, forget_bias=config.forget_bias, dtype=np.dtype(config.dtype),
                         rng=np.random.default_rng(0))
    weights = {k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")}
    try:
        fc.net.load_state_dict(weights)
    except (KeyError, ValueError) as err:
        raise CheckpointError(f"'{path}': the weights do not fit the saved settings: {err}") from None
    fc.net.eval()
    fc.history_ = list(meta.get("history", []))
    return fc
