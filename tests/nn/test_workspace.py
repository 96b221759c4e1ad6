"""Buffers kept from one call to the next (``workspace.py``): reused when free, never while held."""

import weakref

import numpy as np
import pytest

from rnnkit.nn import GRU, LSTM, RNN, packed
from rnnkit.nn.workspace import Workspace


def test_workspace_hands_an_array_back_only_when_nothing_else_holds_it():
    ws = Workspace()
    first = ws.empty("x", (3, 4), np.float32)
    held = ws.empty("x", (3, 4), np.float32)  # `first` is still held here
    assert held is not first
    kept = weakref.ref(held)
    del first, held
    again = ws.empty("x", (3, 4), np.float32)
    assert again is kept()
    view = again[1:]
    del again
    assert ws.empty("x", (3, 4), np.float32).base is None  # a new array: a view still holds the kept one
    assert view.base is not None
    assert ws.empty("x", (2, 4), np.float32).shape == (2, 4)
    assert ws.empty("x", (2, 4), np.float64).dtype == np.float64
    assert ws.empty("y", (2, 4), np.float64) is not ws.empty("x", (2, 4), np.float64)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
@pytest.mark.parametrize("batch,hidden", [(3, 8), (40, 96)])  # packed kernel in compiled loops; NumPy's
@pytest.mark.parametrize("wavefront", [False, True])
def test_layers_reuse_their_buffers_and_still_compute_each_call_afresh(cls, batch, hidden, wavefront):
    rng = np.random.default_rng(1)
    layer = cls(6, hidden, num_layers=2, rng=rng)
    layer.use_wavefront = wavefront
    x1, x2 = (rng.standard_normal((batch, 5, 6)).astype(np.float32) for _ in range(2))
    dy1, dy2 = (rng.standard_normal((batch, 5, hidden)).astype(np.float32) for _ in range(2))

    def buffers():  # the input buffer, the top layer's states and pre-activation gradients
        bottom, top = layer.units[0][0]._cache, layer.units[1][0]._cache
        found = {"x": bottom["x"], "h_buf": top["h_buf"], "dA": top["cell"]["dA"]}
        if top["cell"]["times_W_h"].packed is not None:  # W_h packed for the steps (batch 3)
            found["W_h packed"] = top["cell"]["times_W_h"].packed.data.base
        return found

    layer.forward(x1)
    layer.backward(dy1)
    first = {name: weakref.ref(array) for name, array in buffers().items()}
    layer.zero_grad()
    y2, _ = layer.forward(x2)
    dx2, _ = layer.backward(dy2)
    for name, array in buffers().items():
        assert array is first[name](), name
    assert ("W_h packed" in first) is (batch == 3 or wavefront) or not packed.ENABLED  # wavefront: always

    fresh = cls(6, hidden, num_layers=2, rng=np.random.default_rng(2))
    fresh.use_wavefront = wavefront
    fresh.load_state_dict(layer.state_dict())
    y, _ = fresh.forward(x2)
    dx, _ = fresh.backward(dy2)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(dx2, dx)
    grads = {name: g for name, _, g in layer.named_parameters()}
    for name, _, g in fresh.named_parameters():
        np.testing.assert_array_equal(grads[name], g, err_msg=name)


def test_outputs_and_states_a_caller_keeps_are_never_overwritten():
    """At batch 1 the returned output and input gradient are views of the layer's buffers (no copy is
    needed to make them batch-first); a later call must leave them, and a kept state, as they were."""
    rng = np.random.default_rng(3)
    layer = LSTM(4, 5, num_layers=2, rng=rng)
    x1, x2 = (rng.standard_normal((1, 6, 4)).astype(np.float32) for _ in range(2))
    dy1, dy2 = (rng.standard_normal((1, 6, 5)).astype(np.float32) for _ in range(2))
    y1, _ = layer.forward(x1)
    dx1, _ = layer.backward(dy1)
    h_mid = layer.units[0][0].state_after(3)[0]  # a view into the bottom layer's state buffer
    kept = y1.copy(), dx1.copy(), h_mid.copy()
    layer.forward(x2)
    layer.backward(dy2)
    for array, before in zip((y1, dx1, h_mid), kept):
        np.testing.assert_array_equal(array, before)
