"""Shared test tools: finite differences, torch conversion, relative error."""

from __future__ import annotations

import numpy as np


def numeric_grad(loss_fn, arr: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of ``loss_fn()`` w.r.t. every entry of ``arr`` (perturbed in place)."""
    grad = np.zeros_like(arr, dtype=np.float64)
    flat, gflat = arr.reshape(-1), grad.reshape(-1)
    assert np.shares_memory(flat, arr), "arr must be contiguous so that perturbations reach it"
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = loss_fn()
        flat[i] = old - eps
        down = loss_fn()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def rel_err(actual, expected) -> float:
    """``max |actual - expected| / max |expected|``: the error relative to the array's scale."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(np.abs(expected).max(initial=0.0), 1e-30)
    return float(np.abs(actual - expected).max(initial=0.0) / scale)


def to_numpy_state_dict(module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def torch_twin(layer):
    """The ``torch.nn`` module matching rnnkit's ``layer`` (cell, sizes, layers, directions), with its
    initial weights copied into ``layer``: from here on the two compute the same function."""
    import torch

    from rnnkit import load_torch_state_dict

    kw = dict(num_layers=layer.num_layers, bidirectional=layer.num_directions == 2, batch_first=True)
    if layer.name == "RNN":
        kw["nonlinearity"] = layer.cell.nonlinearity
    module = getattr(torch.nn, layer.name)(layer.input_size, layer.hidden_size, **kw).to(
        getattr(torch, layer.dtype.name))
    load_torch_state_dict(layer, to_numpy_state_dict(module))
    return module


def run_torch(module, x, state, lengths, dy, dstate):
    """Forward and backward in torch (``state``, ``dstate``: lists of ``(L*D, B, H)`` arrays, one for
    RNN/GRU, two for LSTM), with pack_padded_sequence for variable lengths. Returns ``(y, final
    states, dx, initial-state gradients, {parameter name: gradient})``."""
    import torch

    xt = torch.tensor(x, requires_grad=True)
    st = tuple(torch.tensor(s, requires_grad=True) for s in state)
    inp = xt
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=True,
                                                      enforce_sorted=False)
    out, sT = module(inp, st if len(st) == 2 else st[0])
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    sT = sT if isinstance(sT, tuple) else (sT,)
    loss = (out * torch.tensor(dy)).sum() + sum((s * torch.tensor(d)).sum() for s, d in zip(sT, dstate))
    loss.backward()
    grads = {k: p.grad.numpy() for k, p in module.named_parameters()}
    return (out.detach().numpy(), [s.detach().numpy() for s in sT], xt.grad.numpy(),
            [s.grad.numpy() for s in st], grads)


def no_c_softmax(z, row_scale=None, out=None):
    """``packed.softmax_exps`` where its C kernel cannot run (no extension, one BLAS thread): None."""
    return None
