"""PyTorch state dicts for recurrent layers, as NumPy arrays, without importing torch.

Keys are exactly torch's: for layer ``k`` (and ``_reverse`` for the backward direction)
``weight_ih_l{k}`` ``(G*H, I)``, ``weight_hh_l{k}`` ``(G*H, H)``, ``bias_ih_l{k}`` and ``bias_hh_l{k}``
``(G*H,)``, gates in torch's order (LSTM ``i, f, g, o``; GRU ``r, z, n``). rnnkit stores the transposes,
``W_x = weight_ih.T`` and ``W_h = weight_hh.T``, and a single bias ``b``:

- RNN, LSTM: ``b = bias_ih + bias_hh``; exported as ``bias_ih = b``, ``bias_hh = 0``.
- GRU (``reset="after"``): ``b = bias_ih + [bias_hh_r, bias_hh_z, 0]`` and ``b_hn = bias_hh_n``, which
  stays inside the reset product; exported as ``bias_ih = b``, ``bias_hh = [0, 0, b_hn]``.

Exported gradients compare one to one with torch's ``.grad`` because torch's two biases always receive
the same gradient, except GRU's ``bias_hh_n``, whose gradient is ``b_hn``'s.

The original-form GRU (``reset="before"``) has no PyTorch equivalent and is refused.

Usage::

    sd = {k: v.detach().numpy() for k, v in torch_lstm.state_dict().items()}
    load_torch_state_dict(lstm, sd)             # rnnkit now computes what torch_lstm computes
    torch_lstm.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_state_dict(lstm).items()})
    grads = grads_to_torch_state_dict(lstm)     # compare with {k: p.grad for k, p in named_parameters()}
"""

from __future__ import annotations

import numpy as np

from ..nn.cells import GRUCell
from ..nn.recurrent import Recurrent


def _check_exportable(layer: Recurrent) -> None:
    if not isinstance(layer, Recurrent):
        raise TypeError(f"expected an rnnkit RNN, LSTM or GRU layer, got {type(layer).__name__}")
    if isinstance(layer.cell, GRUCell) and layer.cell.reset == "before":
        raise ValueError(
            "the original-form GRU (reset='before') has no PyTorch equivalent: torch.nn.GRU applies "
            "the reset gate after the hidden projection; build the GRU with reset='after' to interoperate"
        )


def _units(layer: Recurrent):
    for k, row in enumerate(layer.units):
        for d, unit in enumerate(row):
            yield f"l{k}" + ("_reverse" if d else ""), unit


def _export(layer: Recurrent, which: str) -> dict[str, np.ndarray]:
    """``which="params"``: the weights; ``"grads"``: their gradients. Both under torch's names.

    ``bias_hh`` is zero but for GRU's ``b_hn`` in the weights; its gradient equals ``bias_ih``'s (the
    two biases enter as a sum) but for GRU's ``bias_hh_n``, which gets ``b_hn``'s gradient.
    """
    _check_exportable(layer)
    out = {}
    for suffix, unit in _units(layer):
        a = getattr(unit, which)
        out[f"weight_ih_{suffix}"] = a["W_x"].T.copy()
        out[f"weight_hh_{suffix}"] = a["W_h"].T.copy()
        out[f"bias_ih_{suffix}"] = a["b"].copy()
        bias_hh = np.zeros_like(a["b"]) if which == "params" else a["b"].copy()
        if "b_hn" in a:
            bias_hh[2 * unit.hidden_size :] = a["b_hn"]
        out[f"bias_hh_{suffix}"] = bias_hh
    return out


def to_torch_state_dict(layer: Recurrent) -> dict[str, np.ndarray]:
    """The layer's weights as a torch ``nn.RNN/LSTM/GRU`` state dict of NumPy arrays."""
    return _export(layer, "params")


def grads_to_torch_state_dict(layer: Recurrent) -> dict[str, np.ndarray]:
    """The accumulated parameter gradients under torch's names, to compare with ``param.grad``."""
    return _export(layer, "grads")


def load_torch_state_dict(layer: Recurrent, state_dict: dict[str, np.ndarray]) -> None:
    """Load a torch ``nn.RNN/LSTM/GRU`` state dict (NumPy arrays or anything ``np.asarray`` takes).

    Raises ``KeyError`` for missing or unexpected keys (a layer built with ``bias=False`` in torch
    lacks the bias keys) and ``ValueError`` for wrong shapes, naming the key.
    """
    _check_exportable(layer)
    expected = set(to_torch_state_dict(layer))
    missing, unexpected = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected)
    if missing or unexpected:
        raise KeyError(
            f"torch state dict does not fit this {layer.name} (num_layers={layer.num_layers}, "
            f"bidirectional={layer.num_directions == 2}): missing {missing}, unexpected {unexpected}"
        )
    for suffix, unit in _units(layer):
        p, H = unit.params, unit.hidden_size
        arrays = {}
        for key, shape in ((f"weight_ih_{suffix}", p["W_x"].T.shape), (f"weight_hh_{suffix}", p["W_h"].T.shape),
                           (f"bias_ih_{suffix}", p["b"].shape), (f"bias_hh_{suffix}", p["b"].shape)):
            value = np.asarray(state_dict[key], dtype=np.float64)
            if value.shape != shape:
                raise ValueError(f"torch state dict '{key}': expected shape {shape}, got {value.shape}")
            arrays[key] = value
        bias_ih, bias_hh = arrays[f"bias_ih_{suffix}"], arrays[f"bias_hh_{suffix}"]
        p["W_x"][...] = arrays[f"weight_ih_{suffix}"].T
        p["W_h"][...] = arrays[f"weight_hh_{suffix}"].T
        if "b_hn" in p:
            p["b"][...] = bias_ih
            p["b"][: 2 * H] += bias_hh[: 2 * H]
            p["b_hn"][...] = bias_hh[2 * H :]
        else:
            p["b"][...] = bias_ih + bias_hh
