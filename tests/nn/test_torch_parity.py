"""Parity with torch.nn.RNN/LSTM/GRU (the oracle, torch==2.13.0 on the CPU): outputs, final states,
input gradients, initial-state gradients and every parameter gradient, through the state-dict interop."""

import zlib

import numpy as np
import pytest
import torch
from _support import rel_err, run_torch, to_numpy_state_dict

from rnnkit import grads_to_torch_state_dict, load_torch_state_dict
from rnnkit.nn import GRU, LSTM, RNN

TOL = {np.float32: 1e-5, np.float64: 1e-10}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}

KINDS = {
    "rnn-tanh": (lambda I, H, **kw: RNN(I, H, nonlinearity="tanh", **kw),
                 lambda I, H, **kw: torch.nn.RNN(I, H, nonlinearity="tanh", **kw)),
    "rnn-relu": (lambda I, H, **kw: RNN(I, H, nonlinearity="relu", **kw),
                 lambda I, H, **kw: torch.nn.RNN(I, H, nonlinearity="relu", **kw)),
    "lstm": (LSTM, torch.nn.LSTM),
    "gru": (GRU, torch.nn.GRU),
}

# fixed edge cases (batch, time, input, hidden, layers, bidirectional, variable lengths)
EDGE = [(1, 1, 1, 1, 1, False, False), (1, 7, 3, 1, 2, True, False), (4, 1, 5, 6, 1, True, True),
        (3, 6, 4, 5, 3, True, True), (5, 9, 2, 8, 2, False, True)]


def random_case(seed):
    r = np.random.default_rng(seed)
    return (int(r.integers(1, 9)), int(r.integers(1, 25)), int(r.integers(1, 33)), int(r.integers(1, 33)),
            int(r.integers(1, 4)), bool(r.integers(2)), bool(r.integers(2)))


CASES = [pytest.param(c, id=f"edge{i}") for i, c in enumerate(EDGE)] + [
    pytest.param(random_case(s), id=f"random{s}") for s in range(6)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch(kind, case, dtype):
    B, T, I, H, L, bi, variable = case
    ours_cls, torch_cls = KINDS[kind]
    rng = np.random.default_rng(zlib.crc32(f"{kind}/{case}".encode()))
    torch.manual_seed(int(rng.integers(2**31)))
    module = torch_cls(I, H, num_layers=L, bidirectional=bi, batch_first=True).to(TORCH_DTYPE[dtype])
    layer = ours_cls(I, H, num_layers=L, bidirectional=bi, dtype=dtype, rng=rng)
    load_torch_state_dict(layer, to_numpy_state_dict(module))

    D = 2 if bi else 1
    n_state = 2 if kind == "lstm" else 1
    x = rng.standard_normal((B, T, I)).astype(dtype)
    state = [rng.standard_normal((L * D, B, H)).astype(dtype) for _ in range(n_state)]
    lengths = rng.integers(1, T + 1, size=B) if variable else None
    if lengths is not None:
        lengths[0] = T  # pad_packed_sequence pads to the longest; keep it T
    dy = rng.standard_normal((B, T, D * H)).astype(dtype)
    dstate = [rng.standard_normal((L * D, B, H)).astype(dtype) for _ in range(n_state)]

    y_ref, sT_ref, dx_ref, ds0_ref, grads_ref = run_torch(module, x, state, lengths, dy, dstate)

    y, sT = layer.forward(x, tuple(state) if n_state == 2 else state[0], lengths=lengths)
    dx, ds0 = layer.backward(dy, tuple(dstate) if n_state == 2 else dstate[0])
    sT = sT if isinstance(sT, tuple) else (sT,)
    ds0 = ds0 if isinstance(ds0, tuple) else (ds0,)

    tol = TOL[dtype]
    assert rel_err(y, y_ref) <= tol
    for ours, ref in zip(sT, sT_ref):
        assert rel_err(ours, ref) <= tol
    assert rel_err(dx, dx_ref) <= tol
    for ours, ref in zip(ds0, ds0_ref):
        assert rel_err(ours, ref) <= tol
    ours_grads = grads_to_torch_state_dict(layer)
    assert set(ours_grads) == set(grads_ref)
    for name, ref in grads_ref.items():
        assert rel_err(ours_grads[name], ref) <= tol, name
    assert y.dtype == dtype and dx.dtype == dtype
    assert all(g.dtype == dtype for g in layer.gradients())


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn-tanh"])
def test_truncated_bptt_matches_torch_with_detach(kind):
    """Blocks carrying the state forward, backward cut at each block: torch's ``h.detach()`` idiom."""
    ours_cls, torch_cls = KINDS[kind]
    rng = np.random.default_rng(3)
    B, I, H, L, blocks = 3, 4, 5, 2, [5, 3, 6]
    module = torch_cls(I, H, num_layers=L, batch_first=True).double()
    layer = ours_cls(I, H, num_layers=L, dtype=np.float64)
    load_torch_state_dict(layer, to_numpy_state_dict(module))
    xs = [rng.standard_normal((B, T, I)) for T in blocks]
    dys = [rng.standard_normal((B, T, H)) for T in blocks]

    state_t = None
    for x, dy in zip(xs, dys):
        out, state_t = module(torch.tensor(x), state_t)
        (out * torch.tensor(dy)).sum().backward()
        state_t = tuple(s.detach() for s in state_t) if isinstance(state_t, tuple) else state_t.detach()

    state = None
    for x, dy in zip(xs, dys):
        _, state = layer.forward(x, state)
        layer.backward(dy)
    for name, ref in module.named_parameters():
        assert rel_err(grads_to_torch_state_dict(layer)[name], ref.grad.numpy()) <= 1e-10, name
