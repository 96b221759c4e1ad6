"""Finite-difference gradient checks (float64) of the recurrent layers: every parameter, the input and
the initial state, over edge cases."""

import zlib

import numpy as np
import pytest
from _support import numeric_grad

from rnnkit.nn import GRU, LSTM, RNN

CELLS = {
    "rnn-tanh": lambda I, H, **kw: RNN(I, H, nonlinearity="tanh", **kw),
    "rnn-relu": lambda I, H, **kw: RNN(I, H, nonlinearity="relu", **kw),
    "lstm": lambda I, H, **kw: LSTM(I, H, **kw),
    "gru": lambda I, H, **kw: GRU(I, H, reset="after", **kw),
    "gru-original": lambda I, H, **kw: GRU(I, H, reset="before", **kw),
}

# (batch, time, input, hidden, layers, bidirectional, lengths, dropout)
CASES = {
    "basic": (2, 4, 3, 3, 1, False, None, 0.0),
    "T=1": (2, 1, 3, 2, 1, False, None, 0.0),
    "batch=1": (1, 3, 2, 3, 1, False, None, 0.0),
    "hidden=1": (2, 3, 2, 1, 1, False, None, 0.0),
    "2 layers": (2, 3, 2, 3, 2, False, None, 0.0),
    "bidirectional": (2, 3, 2, 2, 1, True, None, 0.0),
    "2 layers, bidirectional, lengths": (3, 4, 2, 2, 2, True, [4, 1, 2], 0.0),
    "lengths": (3, 4, 2, 3, 1, False, [2, 4, 1], 0.0),
    "dropout between layers": (2, 3, 2, 3, 2, False, None, 0.3),
}


def _state_parts(layer, state):
    return list(state) if isinstance(layer, LSTM) else [state]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("cell", CELLS)
def test_gradients_match_finite_differences(cell, case):
    B, T, I, H, L, bi, lengths, dropout = CASES[case]
    rng = np.random.default_rng(zlib.crc32(f"{cell}/{case}".encode()))
    layer = CELLS[cell](I, H, num_layers=L, bidirectional=bi, dropout=dropout, dtype=np.float64, rng=rng)
    if cell == "rnn-relu":  # keep pre-activations away from relu's kink at 0
        for unit in layer.units[0]:
            unit.params["b"] += 0.5
    D = 2 if bi else 1
    x = rng.standard_normal((B, T, I))
    h0 = rng.standard_normal((L * D, B, H)) * 0.5
    state = (h0, rng.standard_normal((L * D, B, H)) * 0.5) if isinstance(layer, LSTM) else h0
    dy = rng.standard_normal((B, T, D * H))
    dstate_parts = [rng.standard_normal((L * D, B, H)) for _ in _state_parts(layer, state)]
    lengths = None if lengths is None else np.array(lengths)

    def loss():
        layer.rng = np.random.default_rng(7)  # the same dropout mask on every call
        y, s = layer.forward(x, state, lengths=lengths)
        return np.sum(y * dy) + sum(np.sum(p * d) for p, d in zip(_state_parts(layer, s), dstate_parts))

    loss()
    layer.zero_grad()
    dstate = tuple(dstate_parts) if isinstance(layer, LSTM) else dstate_parts[0]
    dx, dstate0 = layer.backward(dy, dstate)

    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    for part, dpart in zip(_state_parts(layer, state), _state_parts(layer, dstate0)):
        np.testing.assert_allclose(dpart, numeric_grad(loss, part), rtol=1e-6, atol=1e-8)
    for name, param, grad in layer.named_parameters():
        np.testing.assert_allclose(grad, numeric_grad(loss, param), rtol=1e-6, atol=1e-8, err_msg=name)
