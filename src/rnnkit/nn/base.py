"""The layer contract every engine layer follows.

A layer owns two dicts with the same keys: ``params`` (the arrays it learns) and ``grads`` (their
gradients, same shapes and dtypes). ``forward`` caches only what ``backward`` needs; ``backward(dy)``
returns the input gradient and *adds* into ``grads``. Whoever drives training zeroes the gradients
(``zero_grad``) before each backward pass, so gradients from several passes can be accumulated.

Layers nest: a layer registers its sub-layers with ``add_child`` and ``named_parameters`` walks the
tree, yielding each array once even when it is shared (weight tying shares the same array object,
never an equal copy).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from . import packed


class Layer:
    """Base class: parameter bookkeeping, sub-layers and the training flag."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True
        self._children: dict[str, Layer] = {}

    def add_param(self, name: str, value: np.ndarray) -> np.ndarray:
        """Register a learnable array and a zero gradient of the same shape and dtype."""
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)
        return value

    def add_child(self, name: str, layer: Layer) -> Layer:
        self._children[name] = layer
        return layer

    def children(self) -> Iterator[tuple[str, Layer]]:
        yield from self._children.items()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield ``(qualified_name, param, grad)`` for every parameter, shared arrays once."""
        seen: set[int] = set()
        for name, param, grad in self._walk(prefix):
            if id(param) not in seen:
                seen.add(id(param))
                yield name, param, grad

    def _walk(self, prefix: str) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for name, param in self.params.items():
            yield prefix + name, param, self.grads[name]
        for child_name, child in self._children.items():
            yield from child._walk(f"{prefix}{child_name}.")

    def parameters(self) -> list[np.ndarray]:
        return [p for _, p, _ in self.named_parameters()]

    def gradients(self) -> list[np.ndarray]:
        return [g for _, _, g in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def zero_grad(self) -> None:
        """Set every gradient to 0 (a large float32 one on two cores: ``packed.axpby``)."""
        for grad in self.gradients():
            if not packed.axpby(grad, 0.0, None, 0.0):
                grad.fill(0)

    def train(self, mode: bool = True) -> Layer:
        """Switch dropout on (``mode=True``) or off, for this layer and every sub-layer."""
        self.training = mode
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Layer:
        return self.train(False)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, keyed by qualified name."""
        return {name: param.copy() for name, param, _ in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters in place (so tied arrays stay tied).

        Raises ``KeyError`` naming missing or unexpected keys and ``ValueError`` for a shape mismatch.
        """
        own = {name: param for name, param, _ in self.named_parameters()}
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise KeyError(
                f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        for name, param in own.items():
            value = np.asarray(state[name])
            if value.shape != param.shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: '{name}' expected shape "
                    f"{param.shape}, got {value.shape}"
                )
            param[...] = value

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, *args, **kwargs):  # pragma: no cover - interface
        raise NotImplementedError
