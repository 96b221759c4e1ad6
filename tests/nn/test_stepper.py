"""The stepper (one time step at a time, for streaming) equals the whole-sequence forward pass."""

import numpy as np
import pytest
from _support import rel_err

from rnnkit.nn import GRU, LSTM, RNN
from rnnkit.nn.stepper import Stepper

LAYERS = {
    "rnn": lambda I, H, **kw: RNN(I, H, **kw),
    "rnn-relu": lambda I, H, **kw: RNN(I, H, nonlinearity="relu", **kw),
    "lstm": lambda I, H, **kw: LSTM(I, H, **kw),
    "gru": lambda I, H, **kw: GRU(I, H, **kw),
    "gru-before": lambda I, H, **kw: GRU(I, H, reset="before", **kw),
}


@pytest.mark.parametrize("B", [1, 3])  # batch 1 keeps its stacked weights transposed
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_stepping_equals_the_whole_sequence(kind, dtype, B):
    T, I, H, L = 9, 5, 6, 3
    r = np.random.default_rng(1)
    layer = LAYERS[kind](I, H, num_layers=L, dropout=0.5, dtype=dtype, rng=np.random.default_rng(0))
    layer.eval()  # dropout off, as in inference
    x = r.standard_normal((B, T, I)).astype(dtype)
    n_parts = 2 if kind == "lstm" else 1
    parts = [r.standard_normal((L, B, H)).astype(dtype) for _ in range(n_parts)]
    state0 = tuple(parts) if n_parts == 2 else parts[0]
    y, final = layer.forward(x, state0)
    stepper = Stepper(layer, B)
    state, outs = state0, []
    for t in range(T):
        h, state = stepper.step(x[:, t], state)
        outs.append(h.copy())
    tol = 1e-12 if dtype == np.float64 else 1e-5  # the per-step input product rounds differently
    assert rel_err(np.stack(outs, axis=1), y) < tol
    for got, want in zip(state if n_parts == 2 else (state,), final if n_parts == 2 else (final,)):
        assert rel_err(got, want) < tol


def test_a_bidirectional_layer_is_refused():
    with pytest.raises(ValueError, match="bidirectional"):
        Stepper(LSTM(3, 4, bidirectional=True), 1)
