"""Whole models — language models and forecasters — as PyTorch state dicts (NumPy arrays; safetensors
files torch can load). Each recurrent stack goes under ``rnn.`` with torch's ``nn.RNN/LSTM/GRU`` names
(``weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ...``, ``batch_first=True``; gate order and
biases: see :mod:`rnnkit.io.torch_state`); each ``Linear`` is an ``nn.Linear``: ``weight = W.T``
``(out, in)``, ``bias = b``.

Language model — names of PyTorch's word-language-model example (``RNNModel``)::

    encoder.weight       (V, D)   the embedding, rnnkit's embedding.W
    rnn.<torch names>             nn.RNN/LSTM/GRU(D, H, num_layers, batch_first=True)
    decoder.weight       (V, H)   nn.Linear(H, V): rnnkit's decoder.W transposed
                                  (with tied weights: the same matrix as encoder.weight)
    decoder.bias         (V,)

``logits = decoder(rnn(encoder(ids), state)[0])``.

Forecaster (``ForecastNet``; ``C`` targets, ``K`` covariates, ``h`` horizon, ``P`` outputs per value:
1 for a point head, 2 for a Gaussian head)::

    rnn.<torch names>             nn.RNN/LSTM/GRU(C + K, H, num_layers, batch_first=True)
    head.weight                   recursive: (C*P, H);        direct: (h*C*P, H + h*K)
    head.bias                     recursive: (C*P,);          direct: (h*C*P,)

Recursive: ``out = head(rnn(x, state)[0])``, ``x (B, T, C+K)`` with ``x_t = [z_t, u_{t+1}]``, ``out
(B, T, C*P)`` the distribution of ``z_{t+1}``. Direct: ``y, _ = rnn(x)`` over the context
``x_t = [z_t, u_t]``, then ``out = head(cat([y[:, -1], u_future.reshape(B, h*K)], 1)).reshape(B, h,
C*P)`` with ``u_future (B, h, K)``. The last axis of ``out`` holds the ``C`` means, then (Gaussian)
the ``C`` raw scales ``s``: ``sigma = softplus(s) + sigma_min``. Inputs are scaled: ``z = (y - mean) /
std`` per series and channel (and ``normalize="window"`` subtracts the context mean of ``z``); the
scaling is not a tensor of the network — :func:`save_torch_safetensors` writes it, with the
settings, into the file's metadata (``safetensors.safe_open(path, "np").metadata()``).

Load either file in torch with ``module.load_state_dict(safetensors.torch.load_file(path))``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..nn import Linear
from .torch_state import load_torch_state_dict, to_torch_state_dict


def _linear_to_torch(prefix: str, layer: Linear) -> dict[str, np.ndarray]:
    return {f"{prefix}.weight": layer.params["W"].T.copy(), f"{prefix}.bias": layer.params["b"].copy()}


def _load_linear(prefix: str, layer: Linear, state_dict: dict) -> None:
    for key, target in ((f"{prefix}.weight", layer.params["W"].T), (f"{prefix}.bias", layer.params["b"])):
        value = np.asarray(state_dict[key])
        if value.shape != target.shape:
            raise ValueError(f"'{key}': expected shape {target.shape}, got {value.shape}")
        target[...] = value  # W.T is a view: this writes W


def _check_keys(expected, state_dict: dict, what: str) -> None:
    missing, unexpected = sorted(set(expected) - set(state_dict)), sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise KeyError(f"state dict does not fit this {what}: missing {missing}, unexpected {unexpected}")


def _load_rnn(core, state_dict: dict) -> None:
    load_torch_state_dict(core, {k[len("rnn."):]: v for k, v in state_dict.items() if k.startswith("rnn.")})


# -- language models ---------------------------------------------------------------------------------
def lm_to_torch_state_dict(model) -> dict[str, np.ndarray]:
    emb = model.embedding.params["W"]
    out = {"encoder.weight": emb.copy()}
    out.update({f"rnn.{k}": v for k, v in to_torch_state_dict(model.core).items()})
    out["decoder.weight"] = emb.copy() if model.config.tie_weights else model.decoder.params["W"].T.copy()
    out["decoder.bias"] = model.decoder.params["b"].copy()
    return out


def load_lm_torch_state_dict(model, state_dict: dict[str, np.ndarray]) -> None:
    """Load a state dict named as above into ``model`` (built with the matching ``LMConfig``)."""
    _check_keys(lm_to_torch_state_dict(model), state_dict, "language model")
    value, target = np.asarray(state_dict["encoder.weight"]), model.embedding.params["W"]
    if value.shape != target.shape:
        raise ValueError(f"'encoder.weight': expected shape {target.shape}, got {value.shape}")
    target[...] = value
    _load_rnn(model.core, state_dict)
    if model.config.tie_weights:
        if not np.array_equal(np.asarray(state_dict["decoder.weight"]), model.embedding.params["W"]):
            raise ValueError("this model ties its weights, but decoder.weight differs from encoder.weight")
        model.decoder.params["b"][...] = state_dict["decoder.bias"]
    else:
        _load_linear("decoder", model.decoder, state_dict)


# -- forecasters -------------------------------------------------------------------------------------
def forecaster_to_torch_state_dict(net) -> dict[str, np.ndarray]:
    """A ``ForecastNet`` (``Forecaster.net``) as ``rnn.*`` + ``head.*`` (see the module docstring)."""
    out = {f"rnn.{k}": v for k, v in to_torch_state_dict(net.core).items()}
    out.update(_linear_to_torch("head", net.head))
    return out


def load_forecaster_torch_state_dict(net, state_dict: dict[str, np.ndarray]) -> None:
    """Load a state dict named as above into ``net``, a ``ForecastNet`` built with the same settings
    (e.g. a fitted or loaded ``Forecaster``'s ``net``)."""
    _check_keys(forecaster_to_torch_state_dict(net), state_dict, f"{net.strategy} forecaster network")
    _load_rnn(net.core, state_dict)
    _load_linear("head", net.head, state_dict)


def forecaster_torch_metadata(fc) -> dict[str, str]:
    """What a torch user needs beside the weights, as safetensors metadata (strings of JSON):
    ``rnnkit_forecaster`` — settings, target and covariate columns, series names, and the scaling
    (``mean``, ``std`` per series and channel; also ``cov_mean``, ``cov_std`` for covariates)."""
    import json

    info = {"config": fc.config.to_json(), "columns": fc.columns_, "covariates": fc.cov_columns_,
            "series": fc.names_, "mean": fc.scaler_.mean.tolist(), "std": fc.scaler_.std.tolist()}
    if fc.cov_scaler_ is not None:
        info.update(cov_mean=fc.cov_scaler_.mean.tolist(), cov_std=fc.cov_scaler_.std.tolist())
    return {"rnnkit_forecaster": json.dumps(info)}


def save_torch_safetensors(state_dict: dict[str, np.ndarray], path: str | Path, *,
                           metadata: dict[str, str] | None = None) -> Path:
    """Write a state dict as a plain safetensors file (``safetensors.torch.load_file`` reads it),
    with optional string ``metadata`` in its header."""
    import safetensors.numpy

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in state_dict.items()}, str(tmp),
                                metadata=metadata)
    tmp.replace(path)
    return path
