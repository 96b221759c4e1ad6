"""What the gradient's decay is made of: the spectrum of ``W_h``, ``tanh'`` and the gates.

The step Jacobian of a tanh RNN is ``diag(1 - h_t^2) W_h^T``: its size is bounded by the largest
singular value of ``W_h`` times the largest ``tanh'``; if ``sigma_max(W_h) < 1`` the gradient must
vanish, and saturated units (``|h| -> 1``, ``tanh' -> 0``) shrink it further. An LSTM's cell state is
carried by ``c_t = f * c_{t-1} + ...``, so ``dc_{t-1} = f * dc_t``: the gradient survives as long as
the forget gate is near 1. A GRU's ``h_t = (1 - z) n + z h_{t-1}`` carries it where ``z`` is near 1.

**Gate activations are recomputed** from the layer's parameters and its hidden states (which
``layers.step_states`` gets from the public forward pass), with the cell equations of ``nn.cells``
written out again here, rather than read from the engine's private cache, whose layout is free to
change. A test checks the recomputation reproduces the engine's hidden states.
"""

from __future__ import annotations

import numpy as np

from .layers import LayerView, step_states

HIST_BINS = np.linspace(0.0, 1.0, 21)  # every quantity below lies in [0, 1]
NEAR_ONE = 0.9  # "forget gate near 1"
SATURATED = 0.1  # tanh' below this: |tanh| above ~0.949


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def spectrum(view: LayerView) -> dict:
    """Singular values and spectral radius of each square gate block of ``W_h (H, G*H)``."""
    W_h = view.W_h
    H = W_h.shape[0]
    names = {"RNN": ["h"], "LSTM": ["i", "f", "g", "o"], "GRU": ["r", "z", "n"]}[view.cell]
    out = {}
    for j, gate in enumerate(names):
        block = W_h[:, j * H : (j + 1) * H]
        sv = np.linalg.svd(block, compute_uv=False)
        out[gate] = {"singular_values": sv.tolist(), "sigma_max": float(sv[0]), "sigma_min": float(sv[-1]),
                     "spectral_radius": float(np.abs(np.linalg.eigvals(block)).max())}
    return out


def activations(view: LayerView) -> dict[str, np.ndarray]:
    """The activations of every step, each ``(T, B, H)``, recomputed from the parameters and states.

    RNN: ``h``, ``tanh'`` (``relu'`` for a relu RNN). LSTM: ``i, f, g, o``, ``c``, ``h``,
    ``tanh'(c)``, ``tanh'(g)``. GRU: ``r, z, n``, ``h``, ``tanh'(n)``.
    """
    p = view.layer.units[0][0].params
    cell = view.layer.cell
    states = step_states(view.layer, view.x)
    h_prev = states[0][:-1]  # (T, B, H): the state each step reads
    x = view.x.transpose(1, 0, 2)  # (T, B, I)
    H = h_prev.shape[-1]
    xw = x @ p["W_x"] + p["b"]  # (T, B, G*H)
    if view.cell == "RNN":
        a = xw + h_prev @ p["W_h"]
        if cell.nonlinearity == "relu":
            h = np.maximum(a, 0.0)
            return {"h": h, "relu'": (a > 0).astype(np.float64)}
        h = np.tanh(a)
        return {"h": h, "tanh'": 1.0 - h * h}
    if view.cell == "LSTM":
        a = xw + h_prev @ p["W_h"]
        i, f, o = _sigmoid(a[..., :H]), _sigmoid(a[..., H : 2 * H]), _sigmoid(a[..., 3 * H :])
        g = np.tanh(a[..., 2 * H : 3 * H])
        c = f * states[1][:-1] + i * g  # c_t = f * c_{t-1} + i * g
        tanh_c = np.tanh(c)
        return {"i": i, "f": f, "g": g, "o": o, "c": c, "h": o * tanh_c,
                "tanh'(c)": 1.0 - tanh_c**2, "tanh'(g)": 1.0 - g * g}
    # GRU, in PyTorch's form (reset after the product) or Cho et al.'s (before)
    W_h = p["W_h"]
    rz = xw[..., : 2 * H] + h_prev @ W_h[:, : 2 * H]
    r, z = _sigmoid(rz[..., :H]), _sigmoid(rz[..., H:])
    if cell.reset == "after":
        n = np.tanh(xw[..., 2 * H :] + r * (h_prev @ W_h[:, 2 * H :] + p["b_hn"]))
    else:
        n = np.tanh(xw[..., 2 * H :] + (r * h_prev) @ W_h[:, 2 * H :])
    return {"r": r, "z": z, "n": n, "h": (1.0 - z) * n + z * h_prev, "tanh'(n)": 1.0 - n * n}


def activation_stats(view: LayerView) -> dict:
    """Summary of each activation in ``[0, 1]`` (gates, derivatives): mean, quantiles, a histogram
    on ``HIST_BINS``, the fraction above ``NEAR_ONE`` (gates) or below ``SATURATED`` (derivatives)."""
    acts = activations(view)
    out = {}
    for name, a in acts.items():
        if name in ("h", "c", "g", "n"):  # not in [0, 1]: summarised through their derivatives
            continue
        v = a.reshape(-1)
        entry = {"mean": float(v.mean()), "q10": float(np.quantile(v, 0.1)), "median": float(np.median(v)),
                 "q90": float(np.quantile(v, 0.9)),
                 "histogram": np.histogram(v, bins=HIST_BINS)[0].tolist()}
        if "'" in name:
            entry["fraction_saturated"] = float((v < SATURATED).mean())
        else:
            entry["fraction_near_one"] = float((v > NEAR_ONE).mean())
        out[name] = entry
    return out
