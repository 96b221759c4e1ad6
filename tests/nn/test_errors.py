"""Bad input gets an error that says what was expected and what came."""

import numpy as np
import pytest

from rnnkit.nn import GRU, LSTM, RNN


def test_wrong_input_shape_names_expected_and_got():
    with pytest.raises(ValueError, match=r"LSTM expected x of shape \(batch, time, 32\), got \(16, 32\)"):
        LSTM(32, 8).forward(np.zeros((16, 32), dtype=np.float32))
    with pytest.raises(ValueError, match=r"GRU expected x of shape \(batch, time, 3\), got \(2, 5, 4\)"):
        GRU(3, 8).forward(np.zeros((2, 5, 4), dtype=np.float32))


def test_wrong_dtype_says_how_to_fix_it():
    with pytest.raises(TypeError, match=r"RNN expected x of dtype float32, got float64; convert it"):
        RNN(3, 4).forward(np.zeros((1, 2, 3)))


def test_wrong_state_size():
    layer = LSTM(3, 4, num_layers=2)
    x = np.zeros((5, 2, 3), dtype=np.float32)
    h = np.zeros((2, 5, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"LSTM expected c0 of shape \(2, batch, 4\), got \(2, 5, 3\)"):
        layer.forward(x, (h, np.zeros((2, 5, 3), dtype=np.float32)))
    with pytest.raises(TypeError, match=r"LSTM expected state as a tuple \(h0, c0\)"):
        layer.forward(x, h)
    with pytest.raises(ValueError, match=r"GRU expected h0 of shape \(1, batch, 4\), got \(1, 4, 4\)"):
        GRU(3, 4).forward(x, np.zeros((1, 4, 4), dtype=np.float32))


def test_non_finite_input_is_located():
    x = np.zeros((2, 3, 4), dtype=np.float32)
    x[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"non-finite value .* in x at index \(1, 2, 0\)"):
        GRU(4, 2).forward(x)


def test_bad_lengths_and_settings():
    x = np.zeros((2, 3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"every length in \[1, 3\]"):
        RNN(4, 2).forward(x, lengths=np.array([3, 4]))
    with pytest.raises(ValueError, match="lengths as 2 integers"):
        RNN(4, 2).forward(x, lengths=np.array([3]))
    with pytest.raises(ValueError, match="dropout in"):
        LSTM(4, 2, dropout=1.0)
    with pytest.raises(ValueError, match="positive integer"):
        LSTM(4, 0)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(4, 2, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="forget_bias applies to LSTM only"):
        GRU(4, 2, forget_bias=1.0)
    with pytest.raises(RuntimeError, match="needs a forward"):
        LSTM(4, 2).backward(np.zeros((2, 3, 2), dtype=np.float32))
