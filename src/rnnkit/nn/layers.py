"""The layers a sequence model needs around its recurrent core: embedding, linear, dropout."""

from __future__ import annotations

import numpy as np

from . import fastpath
from .base import Layer
from .blas import add_column_sums, matmul
from .checks import check_float_array, check_indices
from .init import uniform


class Embedding(Layer):
    """Look-up table ``W (num_embeddings, dim)``: ``ids (...)`` -> ``W[ids] (..., dim)``.

    Initialised N(0, 1) as in PyTorch, or U(-scale, scale) when ``init_scale`` is given (Zaremba et al.
    use 0.1). The ids get no gradient; rows of ``W`` get the sum of the gradients of their look-ups.
    """

    def __init__(self, num_embeddings: int, dim: int, *, dtype=np.float32,
                 init_scale: float | None = None, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng()
        if init_scale is None:
            W = rng.standard_normal((num_embeddings, dim)).astype(dtype)
        else:
            W = uniform((num_embeddings, dim), init_scale, rng, dtype)
        self.add_param("W", W)
        self._ids: np.ndarray | None = None

    def forward(self, ids: np.ndarray) -> np.ndarray:
        ids = check_indices("Embedding", "ids", ids, upper=self.params["W"].shape[0])
        self._ids = ids
        return self.params["W"][ids]

    def backward(self, dy: np.ndarray) -> None:
        """Add ``dy (..., dim)`` into the looked-up rows of ``dW``; returns None (ids are discrete)."""
        if self._ids is None:
            raise RuntimeError("Embedding.backward() needs a forward() call first")
        dW = self.grads["W"]
        ids, dy = self._ids.reshape(-1), dy.reshape(-1, dW.shape[1])
        if fastpath.active(dW.dtype) and dy.dtype == dW.dtype:
            fastpath.get("add_rows")(dW, ids, dy)
        else:
            np.add.at(dW, ids, dy)
        return None


def matmul_last_axis(x: np.ndarray, W: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """``x (..., I) @ W (I, O) (+ b (O,)) -> (..., O)`` as one 2-D product (NumPy runs a 3-D @ 2-D
    ``matmul`` as a loop of small products, several times slower for a language model's output
    layer), split over two cores of our own (``blas.matmul``): OpenBLAS's own threads, once woken,
    spin for ~0.1 s and would take a core from the recurrent layer's two-core steps that follow or
    precede it. The bias is written first and the product added to it: one pass over the output
    fewer than adding it after (28 MB for an LM's logits at batch 20 x 35)."""
    y = np.empty((*x.shape[:-1], W.shape[1]), dtype=np.result_type(x, W))
    if b is not None:
        y[...] = b
    matmul(y.reshape(-1, W.shape[1]), x.reshape(-1, W.shape[0]), W, add=b is not None, split=True)
    return y


class Linear(Layer):
    """``y = x W + b`` over the last axis, at every time step: ``x (..., in)`` -> ``y (..., out)``.

    ``W (in, out)``, ``b (out,)``, both U(-1/sqrt(in), 1/sqrt(in)) as in PyTorch unless ``init_scale``.
    """

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True, dtype=np.float32,
                 init_scale: float | None = None, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng()
        bound = init_scale if init_scale is not None else 1.0 / np.sqrt(in_features)
        self.in_features, self.out_features = in_features, out_features
        self.dtype = np.dtype(dtype)
        self.add_param("W", uniform((in_features, out_features), bound, rng, dtype))
        if bias:
            self.add_param("b", uniform((out_features,), bound, rng, dtype))
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear expected x of shape (..., {self.in_features}), got {x.shape}")
        x = check_float_array("Linear", "x", x, dims=(None,) * x.ndim, dtype=self.dtype,
                              legend=f"(..., {self.in_features})")
        self._x = x
        return matmul_last_axis(x, self.params["W"], self.params.get("b"))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self._x is None:
            raise RuntimeError("Linear.backward() needs a forward() call first")
        x2 = self._x.reshape(-1, self.in_features)
        dy2 = dy.reshape(-1, self.out_features)
        dx = np.empty(self._x.shape, dtype=np.result_type(dy2, self.dtype))
        matmul(dx.reshape(x2.shape), dy2, self.params["W"].T, split=True)  # as in matmul_last_axis
        matmul(self.grads["W"], x2.T, dy2, add=True, split=True, defer=True)
        if "b" in self.grads:
            add_column_sums(self.grads["b"], dy2, split=True, defer=True)
        return dx


class Dropout(Layer):
    """Inverted dropout: in training, zero each element with probability ``p`` and scale the rest by
    ``1/(1-p)``, so evaluation needs no rescaling. Identity in eval mode or with ``p = 0``."""

    def __init__(self, p: float, *, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout expected p in [0, 1), got {p}")
        self.p = p
        self.rng = rng if rng is not None else np.random.default_rng()
        self._keep: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self._keep = None
            return x
        keep = (self.rng.random(x.shape) >= self.p).astype(x.dtype)
        keep /= 1.0 - self.p
        self._keep = keep
        return x * keep

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy if self._keep is None else dy * self._keep
