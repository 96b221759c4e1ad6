"""The textbook's LSTM (deep-learning-from-scratch-2, ``TimeLSTM``), kept small as a reference row.

What makes it the "textbook approach": the input projection ``x_t W_x`` is computed inside the time
loop, one narrow product per step; every gate is its own ufunc expression with fresh temporaries; the
weight gradients are accumulated step by step (``dW_x += x_t^T dA`` per step). It computes the same
thing as ``rnnkit.LSTM`` (one layer, gates i, f, g, o; the book packs f, g, i, o — the order does not
change the cost). Only the benchmark uses it.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


class TextbookLSTM:
    """One layer, batch-first ``x (B, T, I)`` -> ``hs (B, T, H)``; stacks by composition."""

    def __init__(self, I: int, H: int, rng: np.random.Generator, dtype=np.float32) -> None:
        s = 1 / np.sqrt(H)
        self.Wx = rng.uniform(-s, s, (I, 4 * H)).astype(dtype)
        self.Wh = rng.uniform(-s, s, (H, 4 * H)).astype(dtype)
        self.b = np.zeros(4 * H, dtype=dtype)
        self.grads = [np.zeros_like(self.Wx), np.zeros_like(self.Wh), np.zeros_like(self.b)]

    def forward(self, xs):
        B, T, _ = xs.shape
        H = self.Wh.shape[0]
        hs = np.empty((B, T, H), dtype=xs.dtype)
        h = np.zeros((B, H), dtype=xs.dtype)
        c = np.zeros((B, H), dtype=xs.dtype)
        self.cache = []
        for t in range(T):
            x = xs[:, t, :]
            A = x @ self.Wx + h @ self.Wh + self.b  # per-step input projection
            i, f = _sigmoid(A[:, :H]), _sigmoid(A[:, H:2 * H])
            g, o = np.tanh(A[:, 2 * H:3 * H]), _sigmoid(A[:, 3 * H:])
            c_next = f * c + g * i
            h_next = o * np.tanh(c_next)
            self.cache.append((x, h, c, i, f, g, o, c_next))
            hs[:, t, :] = h_next
            h, c = h_next, c_next
        self.xs_shape = xs.shape
        return hs

    def backward(self, dhs):
        B, T, I = self.xs_shape
        dxs = np.empty((B, T, I), dtype=dhs.dtype)
        dh = np.zeros_like(dhs[:, 0, :])
        dc = np.zeros_like(dh)
        dWx, dWh, db = self.grads
        for t in reversed(range(T)):
            x, h_prev, c_prev, i, f, g, o, c_next = self.cache[t]
            dh = dh + dhs[:, t, :]
            tanh_c = np.tanh(c_next)
            ds = dc + (dh * o) * (1 - tanh_c ** 2)
            dc = ds * f
            di = ds * g * i * (1 - i)
            df = ds * c_prev * f * (1 - f)
            dg = ds * i * (1 - g ** 2)
            do = dh * tanh_c * o * (1 - o)
            dA = np.hstack((di, df, dg, do))
            dWx += x.T @ dA  # per-step weight gradients
            dWh += h_prev.T @ dA
            db += dA.sum(axis=0)
            dxs[:, t, :] = dA @ self.Wx.T
            dh = dA @ self.Wh.T
        return dxs


class TextbookStack:
    def __init__(self, I, H, num_layers, rng, dtype=np.float32):
        self.layers = [TextbookLSTM(I if k == 0 else H, H, rng, dtype) for k in range(num_layers)]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy
