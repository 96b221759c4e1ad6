"""Streaming inference: one step at a time for many independent streams, constant memory per step."""

from __future__ import annotations

import numpy as np

from ..models.language_model import LanguageModel


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


class StreamingLM:
    """Next-token probabilities for ``num_streams`` independent streams, fed one token at a time.

    Each stream keeps its own recurrent state (``(num_layers, H)`` per stream, plus ``c`` for LSTM);
    a step costs one forward step of the stack, whatever came before. ``step`` takes one token per
    stream ``(num_streams,)`` and returns ``(num_streams, V)`` probabilities. A stream's state can be
    saved, restored or reset without touching the others.
    """

    def __init__(self, model: LanguageModel, num_streams: int = 1) -> None:
        if num_streams < 1:
            raise ValueError(f"StreamingLM needs at least one stream, got {num_streams}")
        self.model = model.eval()
        self.num_streams = num_streams
        self.state = model.initial_state(num_streams)

    def _parts(self):
        return self.state if isinstance(self.state, tuple) else (self.state,)

    def step(self, tokens) -> np.ndarray:
        tokens = np.asarray(tokens)
        if tokens.shape != (self.num_streams,):
            raise ValueError(f"StreamingLM.step expected one token per stream, shape ({self.num_streams},), "
                             f"got {tokens.shape}")
        logits, self.state = self.model.forward(tokens[:, None], self.state)
        return _softmax(logits[:, 0])

    def get_state(self, stream: int) -> tuple[np.ndarray, ...]:
        """Copies of one stream's state arrays, ``(num_layers, H)`` each."""
        return tuple(p[:, stream].copy() for p in self._parts())

    def set_state(self, stream: int, state: tuple[np.ndarray, ...]) -> None:
        parts = self._parts()
        if len(state) != len(parts) or any(s.shape != p[:, stream].shape for s, p in zip(state, parts)):
            raise ValueError(f"state does not fit: expected {len(parts)} array(s) of shape {parts[0][:, stream].shape}")
        for s, p in zip(state, parts):
            p[:, stream] = s

    def reset(self, stream: int) -> None:
        """Start ``stream`` afresh from the zero state."""
        for p in self._parts():
            p[:, stream] = 0
