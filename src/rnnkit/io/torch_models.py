"""Whole language models as PyTorch state dicts (NumPy arrays; safetensors files torch can load).

Names follow PyTorch's word-language-model example (``RNNModel``): ::

    encoder.weight       (V, D)   the embedding, rnnkit's embedding.W
    rnn.<torch names>             weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ... of
                                  torch.nn.RNN/LSTM/GRU(batch_first=True); see rnnkit.io.torch_state
    decoder.weight       (V, H)   nn.Linear's weight = rnnkit's decoder.W transposed
                                  (with tied weights: the same matrix as encoder.weight)
    decoder.bias         (V,)

Load the file in torch with ``safetensors.torch.load_file(path)`` into a module with
``encoder = nn.Embedding(V, D)``, ``rnn = nn.LSTM(D, H, num_layers, batch_first=True)`` (or RNN/GRU)
and ``decoder = nn.Linear(H, V)``: ``logits = decoder(rnn(encoder(ids), state)[0])``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..models.language_model import LanguageModel
from .torch_state import load_torch_state_dict, to_torch_state_dict


def lm_to_torch_state_dict(model: LanguageModel) -> dict[str, np.ndarray]:
    emb = model.embedding.params["W"]
    out = {"encoder.weight": emb.copy()}
    out.update({f"rnn.{k}": v for k, v in to_torch_state_dict(model.core).items()})
    out["decoder.weight"] = emb.copy() if model.config.tie_weights else model.decoder.params["W"].T.copy()
    out["decoder.bias"] = model.decoder.params["b"].copy()
    return out


def load_lm_torch_state_dict(model: LanguageModel, state_dict: dict[str, np.ndarray]) -> None:
    """Load a state dict named as above into ``model`` (built with the matching ``LMConfig``)."""
    expected = set(lm_to_torch_state_dict(model))
    missing, unexpected = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected)
    if missing or unexpected:
        raise KeyError(f"state dict does not fit this language model: missing {missing}, unexpected {unexpected}")
    for key, target in (("encoder.weight", model.embedding.params["W"]),):
        value = np.asarray(state_dict[key])
        if value.shape != target.shape:
            raise ValueError(f"'{key}': expected shape {target.shape}, got {value.shape}")
        target[...] = value
    load_torch_state_dict(model.core, {k[len("rnn."):]: v for k, v in state_dict.items() if k.startswith("rnn.")})
    W = np.asarray(state_dict["decoder.weight"])
    if model.config.tie_weights:
        if not np.array_equal(W, model.embedding.params["W"]):
            raise ValueError("this model ties its weights, but decoder.weight differs from encoder.weight")
    else:
        if W.shape != model.decoder.params["W"].T.shape:
            raise ValueError(f"'decoder.weight': expected shape {model.decoder.params['W'].T.shape}, got {W.shape}")
        model.decoder.params["W"][...] = W.T
    model.decoder.params["b"][...] = state_dict["decoder.bias"]


def save_torch_safetensors(state_dict: dict[str, np.ndarray], path: str | Path) -> Path:
    """Write a state dict as a plain safetensors file (``safetensors.torch.load_file`` reads it)."""
    import safetensors.numpy

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in state_dict.items()}, str(tmp))
    tmp.replace(path)
    return path
