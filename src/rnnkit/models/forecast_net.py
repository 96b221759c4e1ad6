"""The network inside the forecaster: a recurrent core and a linear head, recursive or direct.

Shape legend: ``B`` windows (the batch), ``T`` time steps read, ``C`` target channels, ``K`` known
covariates, ``H`` hidden size, ``h`` the horizon, ``P`` outputs per value (1 for a point head; 2 for a
Gaussian head: ``mu`` and the raw scale ``s``, see ``heads.GaussianNLL``).

*Recursive* (one step ahead, DeepAR-like): step ``t`` reads ``x_t = [z_t, u_{t+1}]`` — the scaled
targets at ``t`` and the covariates of the time being predicted — and emits the distribution of
``z_{t+1}``; a forecast feeds its own outputs back, carrying the state::

    out (B, T, C*P) = head(core(x (B, T, C+K)))

*Direct* (multi-output, MQ-RNN-like): the core reads the context ``x_t = [z_t, u_t]``; its last
hidden state, beside the covariates of the whole horizon, feeds one linear layer that emits every
step at once::

    out (B, h, C*P) = head([h_T, u_{T+1..T+h}])        # head: (H + h*K) -> h*C*P
"""

from __future__ import annotations

import numpy as np

from ..nn import GRU, LSTM, RNN, Layer, Linear

STRATEGIES = ("recursive", "direct")


def make_core(cell: str, input_size: int, hidden_size: int, *, num_layers: int, dropout: float, dtype,
              forget_bias: float | None, rng: np.random.Generator) -> Layer:
    kwargs = dict(num_layers=num_layers, dropout=dropout, dtype=dtype, rng=rng)
    if cell == "lstm":
        return LSTM(input_size, hidden_size, forget_bias=forget_bias, **kwargs)
    if cell == "gru":
        return GRU(input_size, hidden_size, **kwargs)
    if cell == "rnn":
        return RNN(input_size, hidden_size, **kwargs)
    raise ValueError(f"cell must be 'rnn', 'lstm' or 'gru', got {cell!r}")


class ForecastNet(Layer):
    """Recurrent core + linear head. ``strategy`` picks the recursive or the direct form (above)."""

    def __init__(self, *, cell: str, n_targets: int, n_covariates: int, hidden_size: int, num_layers: int,
                 strategy: str, horizon: int, outputs_per_value: int, dropout: float = 0.0,
                 forget_bias: float | None = None, dtype=np.float32, rng: np.random.Generator) -> None:
        super().__init__()
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        self.C, self.K, self.H, self.P = n_targets, n_covariates, hidden_size, outputs_per_value
        self.strategy, self.horizon, self.dtype = strategy, horizon, np.dtype(dtype)
        self.core = self.add_child("core", make_core(cell, n_targets + n_covariates, hidden_size,
                                                     num_layers=num_layers, dropout=dropout, dtype=dtype,
                                                     forget_bias=forget_bias, rng=rng))
        if strategy == "recursive":
            self.head = self.add_child("head", Linear(hidden_size, n_targets * outputs_per_value, dtype=dtype, rng=rng))
        else:
            self.head = self.add_child("head", Linear(hidden_size + horizon * n_covariates,
                                                      horizon * n_targets * outputs_per_value, dtype=dtype, rng=rng))
        self._T: int | None = None

    # -- recursive ---------------------------------------------------------------------------------
    def forward_steps(self, x: np.ndarray, state=None, *, resets: np.ndarray | None = None):
        """Recursive form: ``x (B, T, C+K)`` -> ``(out (B, T, C*P), state)``."""
        y, state = self.core.forward(x.astype(self.dtype, copy=False), state, resets=resets)  # (B, T, H)
        return self.head.forward(y), state

    def backward_steps(self, dout: np.ndarray) -> None:
        """Backpropagate ``dout (B, T, C*P)`` through the window (truncated at its start)."""
        dy = self.head.backward(dout.astype(self.dtype, copy=False))
        self.core.backward(dy)

    def state_after(self, steps: int):
        return self.core.state_after(steps)

    # -- direct ------------------------------------------------------------------------------------
    def forward_direct(self, x: np.ndarray, u_future: np.ndarray | None) -> np.ndarray:
        """Direct form: context ``x (B, T, C+K)``, ``u_future (B, h, K)`` (None when K = 0) ->
        ``out (B, h, C*P)``."""
        y, _ = self.core.forward(x.astype(self.dtype, copy=False))  # (B, T, H)
        self._T = x.shape[1]
        return self.direct_head(y[:, -1], u_future)

    def direct_head(self, h_T: np.ndarray, u_future: np.ndarray | None) -> np.ndarray:
        """``head([h_T, u_{T+1..T+h}])``: the top layer's last hidden state ``h_T (B, H)`` and the
        future covariates ``u_future (B, h, K)`` -> ``out (B, h, C*P)``."""
        B = h_T.shape[0]
        feats = h_T
        if self.K:
            feats = np.concatenate([feats, u_future.reshape(B, -1).astype(self.dtype, copy=False)], axis=1)
        return self.head.forward(feats).reshape(B, self.horizon, self.C * self.P)

    def backward_direct(self, dout: np.ndarray) -> None:
        B = dout.shape[0]
        dfeats = self.head.backward(dout.reshape(B, -1).astype(self.dtype, copy=False))  # (B, H + h*K)
        dy = np.zeros((B, self._T, self.H), dtype=self.dtype)
        dy[:, -1] = dfeats[:, : self.H]
        self.core.backward(dy)
