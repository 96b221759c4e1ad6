"""A recurrent language model: embedding -> stacked RNN/LSTM/GRU -> linear -> softmax.

Shapes: ``ids (B, T)`` int token ids; ``logits (B, T, V)``; the recurrent state as the core layer
returns it, ``(num_layers, B, H)`` (a tuple ``(h, c)`` for LSTM).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass

import numpy as np

from ..config import from_dict
from ..nn import GRU, LSTM, RNN, Dropout, Embedding, Layer, Linear
from ..nn.blas import add_column_sums, deferred, matmul
from ..nn.layers import matmul_last_axis

CELLS = ("rnn", "lstm", "gru")


@dataclass(frozen=True)
class LMConfig:
    """Architecture of a language model. ``embed_size`` defaults to ``hidden_size``.

    ``dropout`` is applied to the embeddings, between recurrent layers and to the last layer's
    output (Zaremba et al. 2014). ``tie_weights`` shares the embedding matrix with the output layer
    (Press & Wolf 2017; Inan et al. 2017), which needs ``embed_size == hidden_size``.
    ``init_scale``: every weight U(-s, s) (Zaremba et al. use 0.1); None keeps each layer's default.
    """

    vocab_size: int
    cell: str = "lstm"
    hidden_size: int = 200
    embed_size: int | None = None
    num_layers: int = 2
    dropout: float = 0.0
    tie_weights: bool = False
    init: str = "uniform"
    init_scale: float | None = None
    forget_bias: float | None = None
    gru_reset: str = "after"
    nonlinearity: str = "tanh"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        if self.vocab_size < 2:
            raise ValueError(f"a language model needs a vocabulary of at least 2 tokens, got {self.vocab_size}")
        if self.tie_weights and self.embedding_size != self.hidden_size:
            raise ValueError(
                f"tie_weights needs embed_size == hidden_size, got {self.embedding_size} and {self.hidden_size}"
            )
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    @property
    def embedding_size(self) -> int:
        return self.embed_size if self.embed_size is not None else self.hidden_size

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> LMConfig:
        return from_dict(cls, data, what="language-model settings")


class TiedDecoder(Layer):
    """``logits = h W_emb^T + b``, the output layer sharing the embedding's matrix ``W_emb (V, D)``.

    The gradient of the shared matrix is added into the embedding's own gradient array.
    """

    def __init__(self, embedding: Embedding) -> None:
        super().__init__()
        self.embedding = embedding
        W = embedding.params["W"]
        self.add_param("b", np.zeros(W.shape[0], dtype=W.dtype))
        self._h: np.ndarray | None = None

    def forward(self, h: np.ndarray) -> np.ndarray:
        self._h = h
        return matmul_last_axis(h, self.embedding.params["W"].T, self.params["b"])  # W (V, D)

    def backward(self, dlogits: np.ndarray) -> np.ndarray:
        W = self.embedding.params["W"]
        h2 = self._h.reshape(-1, W.shape[1])
        d2 = dlogits.reshape(-1, W.shape[0])
        dh = np.empty(self._h.shape, dtype=np.result_type(d2, W))
        matmul(self.embedding.grads["W"], d2.T, h2, add=True, split=True)  # as in matmul_last_axis
        matmul(dh.reshape(h2.shape), d2, W, split=True)
        add_column_sums(self.grads["b"], d2, split=True, defer=True)
        return dh


class LanguageModel(Layer):
    """Next-token model over a vocabulary of ``config.vocab_size`` tokens."""

    def __init__(self, config: LMConfig, *, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        self.rng = rng if rng is not None else np.random.default_rng()
        dtype = np.dtype(config.dtype)
        V, D, H = config.vocab_size, config.embedding_size, config.hidden_size
        self.embedding = self.add_child("embedding", Embedding(V, D, dtype=dtype, rng=self.rng,
                                                               init_scale=config.init_scale))
        self.drop_in = self.add_child("drop_in", Dropout(config.dropout, rng=self.rng))
        core_kwargs = dict(num_layers=config.num_layers, dropout=config.dropout, dtype=dtype,
                           init=config.init, init_scale=config.init_scale, rng=self.rng)
        if config.cell == "lstm":
            core = LSTM(D, H, forget_bias=config.forget_bias, **core_kwargs)
        elif config.cell == "gru":
            core = GRU(D, H, reset=config.gru_reset, **core_kwargs)
        else:
            core = RNN(D, H, nonlinearity=config.nonlinearity, **core_kwargs)
        self.core = self.add_child("core", core)
        self.drop_out = self.add_child("drop_out", Dropout(config.dropout, rng=self.rng))
        if config.tie_weights:
            decoder = TiedDecoder(self.embedding)
        else:
            decoder = Linear(H, V, dtype=dtype, rng=self.rng, init_scale=config.init_scale)
        self.decoder = self.add_child("decoder", decoder)

    def forward(self, ids: np.ndarray, state=None, *, resets: np.ndarray | None = None):
        """``ids (B, T)`` -> ``(logits (B, T, V), state)``; ``state`` carries over between calls."""
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"LanguageModel expected ids of shape (batch, time), got {ids.shape}")
        x = self.drop_in.forward(self.embedding.forward(ids))
        h, state = self.core.forward(x, state, resets=resets)
        return self.decoder.forward(self.drop_out.forward(h)), state

    def backward(self, dlogits: np.ndarray):
        """Backpropagate ``dlogits (B, T, V)``; returns the gradient w.r.t. the initial state."""
        # the output layer's weight gradient beside the recurrent layers' backward, where they defer theirs
        with deferred() if self.core.backward_defers() else nullcontext():
            dh = self.drop_out.backward(self.decoder.backward(dlogits))
            dx, dstate0 = self.core.backward(dh)
        self.embedding.backward(self.drop_in.backward(dx))
        return dstate0

    def state_after(self, steps: int):
        return self.core.state_after(steps)

    def initial_state(self, batch_size: int):
        """The zero state for ``batch_size`` streams."""
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        zeros = np.zeros(shape, dtype=self.config.dtype)
        return (zeros, zeros.copy()) if self.config.cell == "lstm" else zeros

    def generate(self, prompt: np.ndarray, length: int, *, temperature: float = 1.0, top_k: int = 0,
                 greedy: bool = False, rng: np.random.Generator | None = None) -> np.ndarray:
        """Continue ``prompt`` (1-D ids, at least one) by ``length`` tokens; returns the new ids.

        Greedy takes the most likely token; otherwise samples from ``softmax(logits / temperature)``,
        restricted to the ``top_k`` most likely tokens when ``top_k > 0``. Runs in eval mode, one
        token at a time, carrying the state (no recomputation of the past).
        """
        prompt = np.asarray(prompt)
        if prompt.ndim != 1 or prompt.size == 0:
            raise ValueError(f"generate() expected a non-empty 1-D prompt of token ids, got shape {prompt.shape}")
        if length < 0:
            raise ValueError(f"generate() expected length >= 0, got {length}")
        if not greedy and temperature <= 0:
            raise ValueError(f"temperature must be > 0 (or use greedy), got {temperature}")
        rng = rng if rng is not None else np.random.default_rng()
        was_training = self.training
        self.eval()
        try:
            logits, state = self.forward(prompt[None, :])
            out = np.empty(length, dtype=np.int64)
            for k in range(length):
                out[k] = _pick(logits[0, -1].astype(np.float64), temperature=temperature, top_k=top_k,
                               greedy=greedy, rng=rng)
                logits, state = self.forward(out[None, k : k + 1], state)
        finally:
            self.train(was_training)
        return out


def _pick(logits: np.ndarray, *, temperature: float, top_k: int, greedy: bool, rng: np.random.Generator) -> int:
    if greedy:
        return int(np.argmax(logits))
    z = logits / temperature
    if 0 < top_k < z.size:
        cutoff = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cutoff, z, -np.inf)
    p = np.exp(z - z.max())
    p /= p.sum()
    return int(rng.choice(p.size, p=p))
