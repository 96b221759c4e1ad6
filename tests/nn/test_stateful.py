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


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_resets_start_a_new_document_mid_sequence(cls):
    """A reset before step 3 of stream 0 equals running steps 3.. of that stream from a zero state."""
    layer = cls(3, 4, num_layers=2, dtype=np.float64, rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 7, 3))
    h0 = rng.standard_normal((2, 2, 4))
    state = (h0, rng.standard_normal((2, 2, 4))) if cls is LSTM else h0
    resets = np.zeros((2, 7), dtype=bool)
    resets[0, 3] = True
    y, _ = layer.forward(x, state, resets=resets)
    y_plain, _ = layer.forward(x, state)
    np.testing.assert_array_equal(y[1], y_plain[1])  # the other stream is untouched
    np.testing.assert_array_equal(y[0, :3], y_plain[0, :3])
    y_fresh, _ = layer.forward(x[:1, 3:])
    np.testing.assert_allclose(y[0, 3:], y_fresh[0], rtol=1e-13, atol=1e-15)


def test_resets_cut_the_gradient_and_check_against_finite_differences():
    from _support import numeric_grad
    rng = np.random.default_rng(4)
    layer = LSTM(2, 3, num_layers=2, dtype=np.float64, rng=rng)
    x = rng.standard_normal((2, 5, 2))
    h0, c0 = rng.standard_normal((2, 2, 3)), rng.standard_normal((2, 2, 3))
    resets = np.zeros((2, 5), dtype=bool)
    resets[1, 2] = True
    dy = rng.standard_normal((2, 5, 3))
    dy[1, :2] = 0  # stream 1 is judged only after its reset

    def loss():
        return np.sum(layer.forward(x, (h0, c0), resets=resets)[0] * dy)

    loss()
    layer.zero_grad()
    dx, (dh0, dc0) = layer.backward(dy)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dh0, numeric_grad(loss, h0), rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(dx[1, :2], 0)  # nothing before the reset reaches past it
    np.testing.assert_array_equal(dh0[:, 1], 0)
    for name, p, g in layer.named_parameters():
        np.testing.assert_allclose(g, numeric_grad(loss, p), rtol=1e-6, atol=1e-8, err_msg=name)
