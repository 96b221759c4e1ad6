"""Gradient flow through time: how ``dL/dh_{t-k}`` shrinks or grows with the lag ``k``.

For one recurrent layer run over ``x (B, T, I)``, put a loss on the hidden state at each position
``t``, ``L_t = u_t . h_t`` with ``u_t`` a random unit vector (a *probe*; any linear read-out is one),
and measure ``||dL_t/dh_{t-k}||`` for every lag ``k`` and every position ``t >= k``. Since
``||dL_t/dh_t|| = 1`` the curve starts at 1, and by the chain rule::

    dL_t/dh_{t-k} = u_t (dh_t/dh_{t-1}) (dh_{t-1}/dh_{t-2}) ... (dh_{t-k+1}/dh_{t-k})

a product of ``k`` step Jacobians — ``diag(1 - h_s^2) W_h^T`` for a tanh RNN (rows are vectors,
``h_s = tanh(h_{s-1} W_h + x_s W_x + b)``), which is why it vanishes or explodes geometrically.

**How it is computed: with the engine's own backward pass.** The lag-``k`` gradients of all
positions are pushed back one more step at once: the steps ``s = t - k`` (every ``t``) are laid
side by side as a batch of one-step sequences (input ``x_s``, initial state ``h_{s-1}``), the layer
runs forward on that batch, and its ``backward`` with ``dstate = dL_t/dh_{t-k}`` (and ``dy = 0``)
returns ``dstate0 = dL_t/dh_{t-k-1}``. That is exactly one step of the layer's BPTT, so the result
is the gradient, not an estimate; a test compares it with the closed form of a linear RNN,
``u_t (W_h^T)^k``. For an LSTM the state is ``(h, c)``; the probe loss reads ``h_t`` only, and the
gradient w.r.t. both ``h_{t-k}`` and ``c_{t-k}`` is recorded.

Because the map is linear in the gradient, each row is rescaled to unit norm after every step and
the scale kept as a logarithm: curves over hundreds of steps never overflow or underflow.

Any layer with the ``Recurrent`` contract works: ``forward(x (B, T, I), state) -> (y, state)`` and
``backward(dy, dstate) -> (dx, dstate0)``, 1 layer, state ``(1, B, H)`` or a tuple of those.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layers import as_tuple, from_tuple, step_states

LN10 = np.log(10.0)


@dataclass
class FlowCurve:
    """``log10 ||dL_t/dh_{t-k}||`` per lag. ``per_position[k, t, b]`` (NaN where ``t < k``);
    ``log10_mean[k]``: log10 of the mean norm over positions and batch (the headline curve);
    ``log10_median[k]``, ``log10_q10``/``q90``: its spread. ``cell_*`` the same for ``dL/dc`` (LSTM)."""

    lags: np.ndarray
    per_position: np.ndarray
    log10_mean: np.ndarray
    log10_median: np.ndarray
    log10_q10: np.ndarray
    log10_q90: np.ndarray
    cell_log10_mean: np.ndarray | None = None

    def steps_per_decade(self) -> float:
        """Lags over which the mean norm changes 10-fold: ``-1 / slope`` of a least-squares line
        through ``log10_mean`` against the lag (positive: decay; negative: growth; inf: flat)."""
        return steps_per_decade(self.lags, self.log10_mean)

    def to_json(self) -> dict:
        out = {"lags": self.lags.tolist(), "log10_mean": _finite_list(self.log10_mean),
               "log10_median": _finite_list(self.log10_median), "log10_q10": _finite_list(self.log10_q10),
               "log10_q90": _finite_list(self.log10_q90), "steps_per_decade": _finite(self.steps_per_decade())}
        if self.cell_log10_mean is not None:
            out["cell_log10_mean"] = _finite_list(self.cell_log10_mean)
        return out


def _finite(v: float):
    return float(v) if np.isfinite(v) else (None if np.isnan(v) else ("inf" if v > 0 else "-inf"))


def _finite_list(a: np.ndarray) -> list:
    return [_finite(v) for v in np.asarray(a, dtype=np.float64)]


def steps_per_decade(lags: np.ndarray, log10_norm: np.ndarray) -> float:
    """``-1 / slope`` of the least-squares line through the finite points ``(lag, log10_norm)``."""
    lags, y = np.asarray(lags, dtype=np.float64), np.asarray(log10_norm, dtype=np.float64)
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    slope = np.polyfit(lags[ok], y[ok], 1)[0]
    return float("inf") if slope == 0 else float(-1.0 / slope)


def random_probes(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Unit vectors, uniform on the sphere, ``(T, B, H)``: one ``u_t`` per position and sequence."""
    u = rng.standard_normal(shape)
    return u / np.linalg.norm(u, axis=-1, keepdims=True)


def gradient_flow(layer, x: np.ndarray, *, max_lag: int | None = None, probes: np.ndarray | None = None,
                  rng: np.random.Generator | None = None) -> FlowCurve:
    """``||dL_t/dh_{t-k}||`` for ``k = 0 .. max_lag`` through a 1-layer forward ``layer`` (see the
    module doc). ``x (B, T, I)`` float64; ``probes (T, B, H)`` the unit vectors ``u_t`` (drawn from
    ``rng`` when omitted; one of the two is needed). ``max_lag`` defaults to ``T - 1``."""
    x = np.asarray(x, dtype=np.float64)
    B, T, I = x.shape
    max_lag = T - 1 if max_lag is None else int(max_lag)
    if not 0 <= max_lag < T:
        raise ValueError(f"gradient_flow expected max_lag in [0, T-1] = [0, {T - 1}], got {max_lag}; "
                         "use a longer sequence for longer lags")
    states = step_states(layer, x)  # per component (T+1, B, H); index s = state before step s
    H = states[0].shape[-1]
    if probes is None:
        if rng is None:
            raise ValueError("gradient_flow needs probes (T, B, H) or an rng to draw them from")
        probes = random_probes((T, B, H), rng)
    probes = np.asarray(probes, dtype=np.float64)
    if probes.shape != (T, B, H):
        raise ValueError(f"gradient_flow expected probes of shape (T, B, H) = {(T, B, H)}, got {probes.shape}")
    x_steps = np.ascontiguousarray(x.transpose(1, 0, 2))  # (T, B, I)

    # V: gradient w.r.t. the state after step t-k, one row per origin t = k .. T-1, kept at unit norm
    # with the true scale in log_scale (natural log). Components: (dh,) or (dh, dc).
    V = [probes] + [np.zeros_like(probes) for _ in states[1:]]
    log_scale = np.zeros((T, B))
    per_position = np.full((max_lag + 1, T, B), np.nan)
    cell_per_position = np.full((max_lag + 1, T, B), np.nan) if len(states) > 1 else None
    for k in range(max_lag + 1):
        with np.errstate(divide="ignore"):
            per_position[k, k:] = (np.log(np.linalg.norm(V[0], axis=-1)) + log_scale) / LN10
            if cell_per_position is not None:
                cell_per_position[k, k:] = (np.log(np.linalg.norm(V[1], axis=-1)) + log_scale) / LN10
        if k == max_lag:
            break
        # one step back through steps s = t - k for origins t = k+1 .. T-1, i.e. s = 1 .. T-1-k
        V = [v[1:] for v in V]
        log_scale = log_scale[1:]
        n = T - 1 - k
        xs = x_steps[1 : 1 + n].reshape(n * B, 1, I)  # (n*B, 1, I): each step its own sequence
        prev = from_tuple(tuple(st[1 : 1 + n].reshape(1, n * B, H) for st in states))
        y, _ = layer.forward(xs, prev)
        dstate = from_tuple(tuple(v.reshape(1, n * B, H) for v in V))
        _, dstate0 = layer.backward(np.zeros_like(y), dstate)
        V = [d.reshape(n, B, H) for d in as_tuple(dstate0)]
        norm = np.sqrt(sum((v * v).sum(axis=-1) for v in V))  # joint norm of (dh, dc)
        with np.errstate(divide="ignore"):
            log_scale = log_scale + np.log(norm)
        safe = np.where(norm > 0, norm, 1.0)[..., None]
        V = [v / safe for v in V]
    return FlowCurve(lags=np.arange(max_lag + 1), per_position=per_position,
                     log10_mean=_log10_mean(per_position),
                     log10_median=_nan_quantile(per_position, 0.5),
                     log10_q10=_nan_quantile(per_position, 0.1),
                     log10_q90=_nan_quantile(per_position, 0.9),
                     cell_log10_mean=None if cell_per_position is None else _log10_mean(cell_per_position))


def _log10_mean(log10_values: np.ndarray) -> np.ndarray:
    """log10 of the mean of ``10**v`` over all but the first axis, NaNs skipped, without overflow."""
    out = np.empty(log10_values.shape[0])
    for k, row in enumerate(log10_values):
        v = row[~np.isnan(row)]
        top = v.max() if v.size else -np.inf
        if not np.isfinite(top):
            out[k] = top if v.size else np.nan
            continue
        out[k] = top + np.log10(np.mean(10.0 ** (v - top)))
    return out


def _nan_quantile(values: np.ndarray, q: float) -> np.ndarray:
    out = np.empty(values.shape[0])
    for k, row in enumerate(values):
        v = row[~np.isnan(row)]
        out[k] = np.quantile(v, q, method="nearest") if v.size else np.nan
    return out
