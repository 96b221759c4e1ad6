"""rnnkit: recurrent neural networks built from their equations, with backpropagation through time
written by hand in NumPy."""

from .io.torch_state import grads_to_torch_state_dict, load_torch_state_dict, to_torch_state_dict
from .nn import GRU, LSTM, MSE, RNN, Dropout, Embedding, Layer, Linear, SoftmaxCrossEntropy

__version__ = "0.1.0"

__all__ = [
    "RNN", "LSTM", "GRU", "Embedding", "Linear", "Dropout", "SoftmaxCrossEntropy", "MSE", "Layer",
    "to_torch_state_dict", "load_torch_state_dict", "grads_to_torch_state_dict", "__version__",
]
