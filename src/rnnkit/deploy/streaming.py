"""Streaming inference: one step at a time for many independent streams, constant memory per step."""

from __future__ import annotations

import numpy as np

from ..nn.stepper import Stepper


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


class StreamStates:
    """The recurrent state of ``num_streams`` independent streams: ``h`` (and ``c`` for LSTM), each
    ``(num_layers, num_streams, H)``. One stream's state can be saved, restored or reset without
    touching the others."""

    def __init__(self, *, num_layers: int, hidden_size: int, num_streams: int, cell_state: bool, dtype,
                 what: str) -> None:
        if not (isinstance(num_streams, (int, np.integer)) and num_streams >= 1):
            raise ValueError(f"{what} needs at least one stream, got num_streams={num_streams!r}")
        self.num_streams = int(num_streams)
        zeros = np.zeros((num_layers, num_streams, hidden_size), dtype=dtype)
        self.state = (zeros, zeros.copy()) if cell_state else zeros

    def _parts(self) -> tuple[np.ndarray, ...]:
        return self.state if isinstance(self.state, tuple) else (self.state,)

    def _check_stream(self, stream) -> int:
        if not (isinstance(stream, (int, np.integer)) and 0 <= stream < self.num_streams):
            raise ValueError(f"stream must be an integer in [0, {self.num_streams}), got {stream!r}")
        return int(stream)

    def get_state(self, stream: int) -> tuple[np.ndarray, ...]:
        """Copies of one stream's state arrays, ``(num_layers, H)`` each (``h``, then ``c``)."""
        stream = self._check_stream(stream)
        return tuple(p[:, stream].copy() for p in self._parts())

    def set_state(self, stream: int, state: tuple[np.ndarray, ...]) -> None:
        """Restore a state saved by :meth:`get_state`."""
        stream, parts = self._check_stream(stream), self._parts()
        if len(state) != len(parts) or any(np.shape(s) != p[:, stream].shape for s, p in zip(state, parts)):
            raise ValueError(f"state does not fit: expected {len(parts)} array(s) of shape "
                             f"{parts[0][:, stream].shape}, got shapes {[np.shape(s) for s in state]}")
        for s, p in zip(state, parts):
            p[:, stream] = s

    def reset(self, stream: int) -> None:
        """Start ``stream`` afresh from the zero state."""
        stream = self._check_stream(stream)
        for p in self._parts():
            p[:, stream] = 0


class StreamingLM(StreamStates):
    """Next-token probabilities for ``num_streams`` independent streams, fed one token at a time.

    Each stream keeps its own recurrent state (``(num_layers, H)`` per stream, plus ``c`` for LSTM);
    a step costs one forward step of the stack, whatever came before. ``step`` takes one token per
    stream ``(num_streams,)`` and returns ``(num_streams, V)`` probabilities. A stream's state can be
    saved, restored or reset without touching the others. Steps run through a ``Stepper`` (the cell
    equations alone, in reused buffers) made from the model's weights at construction: make a new
    ``StreamingLM`` after changing them.
    """

    def __init__(self, model, num_streams: int = 1) -> None:
        cfg = model.config
        super().__init__(num_layers=cfg.num_layers, hidden_size=cfg.hidden_size, num_streams=num_streams,
                         cell_state=cfg.cell == "lstm", dtype=cfg.dtype, what="StreamingLM")
        self.model = model.eval()
        self.stepper = Stepper(model.core, self.num_streams)

    def step(self, tokens) -> np.ndarray:
        tokens = np.asarray(tokens)
        if tokens.shape != (self.num_streams,):
            raise ValueError(f"StreamingLM.step expected one token per stream, shape ({self.num_streams},), "
                             f"got {tokens.shape}")
        x = self.model.embedding.forward(tokens)  # (streams, D); checks the ids
        h, state = self.stepper.step(x, self.state)
        for dst, src in zip(self._parts(), state if isinstance(state, tuple) else (state,)):
            np.copyto(dst, src)
        return _softmax(self.model.decoder.forward(h))
