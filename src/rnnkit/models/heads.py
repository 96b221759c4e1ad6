"""Probabilistic output head: the Gaussian negative log-likelihood, with its gradient beside it.

A Gaussian head emits two numbers per forecast value: the mean ``mu`` and a raw scale ``s``, mapped to
a positive standard deviation by a softplus (as DeepAR does)::

    sigma = softplus(s) + sigma_min = log(1 + exp(s)) + sigma_min
    nll   = log sigma + (y - mu)^2 / (2 sigma^2) + log(2 pi) / 2

    dnll/dmu = (mu - y) / sigma^2
    dnll/ds  = (1 / sigma - (y - mu)^2 / sigma^3) * sigmoid(s)

``sigma_min`` keeps the likelihood bounded on a noiseless series (where sigma would shrink to 0).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

LOG_2PI = math.log(2 * math.pi)


def softplus(s: np.ndarray) -> np.ndarray:
    """``log(1 + exp(s))`` without overflow."""
    return np.logaddexp(0.0, s).astype(s.dtype, copy=False)


def sigmoid(s: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * s))).astype(s.dtype, copy=False)


class GaussianNLL:
    """Mean Gaussian negative log-likelihood of ``target`` under ``N(mu, sigma^2)``.

    ``mu, s, target (...)`` of one shape; ``mask (...)`` bool or absent: only True elements count, in
    the loss and in the mean's denominator.
    """

    def __init__(self, *, sigma_min: float = 1e-3) -> None:
        if not sigma_min > 0:
            raise ValueError(f"GaussianNLL expected sigma_min > 0, got {sigma_min}")
        self.sigma_min = sigma_min
        self._cache: tuple | None = None

    def sigma(self, s: np.ndarray) -> np.ndarray:
        return softplus(s) + s.dtype.type(self.sigma_min)

    def forward(self, mu: np.ndarray, s: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
        mu, s, target = np.asarray(mu), np.asarray(s), np.asarray(target)
        if not (mu.shape == s.shape == target.shape):
            raise ValueError(f"GaussianNLL expected mu, s and target of one shape, got {mu.shape}, {s.shape}, "
                             f"{target.shape}")
        weight = np.ones(mu.shape, dtype=mu.dtype) if mask is None else \
            np.broadcast_to(np.asarray(mask, dtype=mu.dtype), mu.shape)
        sigma = self.sigma(s)
        r = target - mu
        nll = np.log(sigma) + 0.5 * (r / sigma) ** 2 + 0.5 * LOG_2PI
        count = float(weight.sum())
        self._cache = (r, sigma, s, weight, count)
        return float((nll * weight).sum(dtype=np.float64) / count) if count else 0.0

    def backward(self, dloss: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Returns ``(dmu, ds)``, each of the inputs' shape."""
        if self._cache is None:
            raise RuntimeError("GaussianNLL.backward() needs a forward() call first")
        r, sigma, s, weight, count = self._cache
        scale = weight * (dloss / count if count else 0.0)
        dmu = -r / sigma**2 * scale
        dsigma = (1.0 / sigma - r**2 / sigma**3) * scale
        return dmu.astype(s.dtype, copy=False), (dsigma * sigmoid(s)).astype(s.dtype, copy=False)


def normal_quantile(p: float) -> float:
    """``z`` with ``P(Z <= z) = p`` for a standard normal ``Z``."""
    return NormalDist().inv_cdf(p)


def interval_quantiles(levels: tuple[float, ...]) -> list[tuple[float, float, float]]:
    """For central intervals at ``levels`` (percent, e.g. 80, 95): ``(level, p_low, p_high)``."""
    out = []
    for level in levels:
        if not 0 < level < 100:
            raise ValueError(f"interval levels are percentages in (0, 100), got {level}")
        alpha = (1 - level / 100) / 2
        out.append((level, alpha, 1 - alpha))
    return out
