"""Stateful use: a long sequence run in blocks, carrying the state, equals one call over it all."""

import numpy as np
import pytest

from rnnkit.nn import GRU, LSTM, RNN


@pytest.mark.parametrize("make", [lambda: RNN(3, 4, num_layers=2, dtype=np.float64, rng=np.random.default_rng(0)),
                                  lambda: LSTM(3, 4, num_layers=2, dtype=np.float64, rng=np.random.default_rng(0)),
                                  lambda: GRU(3, 4, num_layers=2, dtype=np.float64, rng=np.random.default_rng(0)),
                                  lambda: GRU(3, 4, reset="before", dtype=np.float32, rng=np.random.default_rng(0)),
                                  lambda: LSTM(3, 4, dtype=np.float32, rng=np.random.default_rng(0))],
                         ids=["rnn", "lstm", "gru", "gru-original-f32", "lstm-f32"])
def test_blocks_carrying_state_equal_one_call(make):
    layer = make()
    x = np.random.default_rng(1).standard_normal((2, 30, 3)).astype(layer.dtype)
    y_whole, s_whole = layer.forward(x)
    state, ys = None, []
    for start, stop in [(0, 7), (7, 8), (8, 23), (23, 30)]:
        y, state = layer.forward(x[:, start:stop], state)
        ys.append(y)
    np.testing.assert_array_equal(np.concatenate(ys, axis=1), y_whole)
    for a, b in zip(state if isinstance(state, tuple) else [state],
                    s_whole if isinstance(s_whole, tuple) else [s_whole]):
        np.testing.assert_array_equal(a, b)


def test_state_after_gives_the_intermediate_state():
    layer = LSTM(3, 4, num_layers=2, dtype=np.float64, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((2, 9, 3))
    _, (h5, c5) = layer.forward(x[:, :5])
    layer.forward(x)
    h, c = layer.state_after(5)
    np.testing.assert_array_equal(h, h5)
    np.testing.assert_array_equal(c, c5)


def test_backward_stops_at_the_block_boundary():
    """The gradient of block 2 does not depend on block 1's input: the state enters as a constant."""
    rng = np.random.default_rng(2)
    layer = GRU(3, 4, dtype=np.float64, rng=rng)
    x1, x2 = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4, 3))
    dy = rng.standard_normal((2, 4, 4))
    _, h = layer.forward(x1)
    layer.forward(x2, h)
    layer.zero_grad()
    layer.backward(dy)
    truncated = {n: g.copy() for n, _, g in layer.named_parameters()}
    layer.forward(x2, h.copy())
    layer.zero_grad()
    layer.backward(dy)
    for n, _, g in layer.named_parameters():
        np.testing.assert_array_equal(g, truncated[n])
