"""The engine: layers with hand-written forward and backward passes, NumPy only."""

from .base import Layer
from .cells import Cell, GRUCell, LSTMCell, RNNCell
from .layers import Dropout, Embedding, Linear
from .losses import MSE, SoftmaxCrossEntropy
from .recurrent import GRU, LSTM, RNN, Recurrent

__all__ = [
    "Layer", "Cell", "RNNCell", "LSTMCell", "GRUCell", "Recurrent", "RNN", "LSTM", "GRU",
    "Embedding", "Linear", "Dropout", "SoftmaxCrossEntropy", "MSE",
]
