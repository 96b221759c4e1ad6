"""Initialisers: PyTorch's uniform ±1/√H, orthogonal W_h, forget-gate bias 1."""

import numpy as np
import pytest

from rnnkit.nn import GRU, LSTM, RNN


def test_default_is_uniform_within_one_over_sqrt_hidden():
    layer = LSTM(10, 64, rng=np.random.default_rng(0))
    bound = 1 / np.sqrt(64)
    for _, p, _ in layer.named_parameters():
        assert p.dtype == np.float32
        assert np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.9 * bound


def test_init_scale_overrides_the_bound():
    layer = RNN(4, 100, init_scale=0.1, rng=np.random.default_rng(0))
    W_h = layer.units[0][0].params["W_h"]
    assert 0.09 < np.abs(W_h).max() <= 0.1


@pytest.mark.parametrize("cls, gates", [(RNN, 1), (LSTM, 4), (GRU, 3)])
def test_orthogonal_recurrent_blocks(cls, gates):
    H = 16
    layer = cls(5, H, init="orthogonal", dtype=np.float64, rng=np.random.default_rng(1))
    W_h = layer.units[0][0].params["W_h"]
    for k in range(gates):
        block = W_h[:, k * H:(k + 1) * H]
        np.testing.assert_allclose(block.T @ block, np.eye(H), atol=1e-12)
    assert np.all(layer.units[0][0].params["b"] == 0)


def test_forget_bias_sets_only_the_forget_gate():
    H = 6
    layer = LSTM(3, H, init="orthogonal", forget_bias=1.0, rng=np.random.default_rng(2))
    b = layer.units[0][0].params["b"]
    np.testing.assert_array_equal(b[H:2 * H], 1.0)
    np.testing.assert_array_equal(np.delete(b, np.s_[H:2 * H]), 0.0)


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="init must be one of"):
        LSTM(3, 4, init="xavier")
