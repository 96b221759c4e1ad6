"""A recurrent stack taken apart into its layers, each with the input it sees, for measurement.

Diagnostics look at one layer's recurrence at a time. ``unstack`` turns a (possibly stacked,
possibly bidirectional) ``Recurrent`` into single-layer, single-direction float64 copies with the
same parameters, and runs them one after another on the data, so each copy comes with its own
input sequence. A reverse-direction unit becomes a forward layer reading time-reversed input, so
that every view runs forward in its own time. Only the engine's public API is used: the layer's
constructor, ``load_state_dict``, ``forward`` and ``backward``; the engine's private caches are not
read. Copies are in float64, so that products over hundreds of steps neither overflow nor lose
the digits the measurement is about; dropout is off (the model in evaluation mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nn import Recurrent


@dataclass
class LayerView:
    """One layer in one direction. ``layer`` is a 1-layer forward ``Recurrent`` (float64) and ``x``
    ``(B, T, I)`` the input it reads, in its own time order."""

    name: str  # "layer 0", "layer 1 (reverse)"
    cell: str  # "RNN", "LSTM", "GRU"
    layer: Recurrent
    x: np.ndarray
    index: int
    reverse: bool = False

    @property
    def W_h(self) -> np.ndarray:
        return self.layer.units[0][0].params["W_h"]


def find_core(model) -> Recurrent:
    """The recurrent stack of ``model``: the model itself or its ``core`` attribute."""
    if isinstance(model, Recurrent):
        return model
    core = getattr(model, "core", None)
    if isinstance(core, Recurrent):
        return core
    raise TypeError(f"expected a recurrent layer (RNN, LSTM, GRU) or a model with one as .core, "
                    f"got {type(model).__name__}")


def single_layer_copy(core: Recurrent, params: dict[str, np.ndarray]) -> Recurrent:
    """A 1-layer, 1-direction float64 ``Recurrent`` with ``core``'s cell and the given unit params."""
    W_x = params["W_x"]
    layer = Recurrent(core.cell, W_x.shape[0], core.hidden_size, num_layers=1, dtype=np.float64,
                      rng=np.random.default_rng(0))
    layer.load_state_dict({f"l0.{name}": np.asarray(v, dtype=np.float64) for name, v in params.items()})
    layer.eval()
    return layer


def unstack(model, x: np.ndarray) -> list[LayerView]:
    """Every layer and direction of ``model``'s recurrent stack with its input, given the stack's
    input ``x (B, T, input_size)``. The stack's output equals the last layer's views concatenated."""
    core = find_core(model)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != core.input_size:
        raise ValueError(f"expected the recurrent input as (batch, time, {core.input_size}), got shape {x.shape}; "
                         "for a language model pass token ids to the diagnostics that take ids")
    views = []
    inp = x
    for k, row in enumerate(core.units):
        outs = []
        for d, unit in enumerate(row):
            layer = single_layer_copy(core, unit.params)
            seq = inp[:, ::-1] if d else inp
            seq = np.ascontiguousarray(seq)
            views.append(LayerView(name=f"layer {k}" + (" (reverse)" if d else ""), cell=core.name,
                                   layer=layer, x=seq, index=k, reverse=bool(d)))
            y, _ = layer.forward(seq)
            outs.append(y[:, ::-1] if d else y)
        inp = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=-1)
    return views


def as_tuple(state) -> tuple[np.ndarray, ...]:
    """A layer state, ``h`` or ``(h, c)``, as a tuple of arrays."""
    return tuple(state) if isinstance(state, (tuple, list)) else (state,)


def from_tuple(parts: tuple[np.ndarray, ...]):
    return parts if len(parts) > 1 else parts[0]


def step_states(layer, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """All states of a 1-layer forward ``layer`` over ``x (B, T, I)``, from the initial (zero) one:
    per state component (``h``; and ``c`` for an LSTM) an array ``(T + 1, B, H)`` whose index ``s``
    holds the state *before* step ``s`` (index ``T``: the final state).

    Runs the layer in blocks of one step carrying the state, which equals one call over the whole
    sequence (the engine's tests prove blocks == whole sequence).
    """
    B, T, _ = x.shape
    state = None
    collected: list[tuple[np.ndarray, ...]] = []
    for s in range(T):
        _, state = layer.forward(x[:, s : s + 1], state)
        parts = as_tuple(state)
        if not collected:
            collected.append(tuple(np.zeros_like(p) for p in parts))
        collected.append(tuple(p.copy() for p in parts))
    # each part is (1, B, H): stack over time -> (T + 1, B, H)
    return tuple(np.stack([c[i][0] for c in collected]) for i in range(len(collected[0])))
