"""The step equations of the three recurrent cells, forward and backward, and nothing else.

A cell is one time step. The sequence layer (``recurrent.py``) owns the time loop: it hoists the input
projection ``xw_t = x_t W_x + b`` out of the loop for all time steps at once, hands each step the views
it needs, and after the loop turns the stored pre-activation gradients ``dA`` into the weight and
input gradients with one matrix product each. So a cell sees only what must be serial::

    forward:  (xw_t, h_prev, c_prev) -> (h_next, c_next)
    backward: (dh_next, dc_next)     -> (dh_prev, dc_prev), storing dA[t]

Shapes, for batch ``B``, hidden size ``H`` and ``G`` gates: ``xw_t (B, G*H)``, ``h_prev (B, H)``,
``W_h (H, G*H)``. Gates are packed along the last axis in PyTorch's order: LSTM ``i, f, g, o``; GRU
``r, z, n``. Each step writes into preallocated per-sequence buffers (``cache``) instead of allocating.
"""

from __future__ import annotations

import numpy as np


def sigmoid_(a: np.ndarray) -> np.ndarray:
    """In-place logistic sigmoid as ``(1 + tanh(a/2)) / 2``: never overflows, unlike ``1/(1+e^-a)``."""
    np.multiply(a, 0.5, out=a)
    np.tanh(a, out=a)
    np.multiply(a, 0.5, out=a)
    np.add(a, 0.5, out=a)
    return a


def sigmoid_grad_(dy: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``dy *= s (1 - s)`` in place, where ``s = sigmoid(a)``."""
    dy *= s
    dy *= 1 - s
    return dy


def tanh_grad_(dy: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``dy *= 1 - t^2`` in place, where ``t = tanh(a)``."""
    dy *= 1 - t * t
    return dy


class Cell:
    """What the time loop needs from a cell. Subclasses fill in the equations."""

    name = "cell"
    n_gates = 1
    has_cell_state = False

    def extra_params(self, hidden_size: int, dtype) -> dict[str, np.ndarray]:
        """Parameters beyond ``W_x, W_h, b`` (PyTorch-form GRU: ``b_hn``)."""
        return {}

    def alloc(self, T: int, B: int, H: int, params: dict, dtype) -> dict[str, np.ndarray]:
        """Per-sequence buffers: always ``dA (T, B, G*H)``, the gradient of the pre-activations."""
        return {"dA": np.empty((T, B, self.n_gates * H), dtype=dtype), "W_hT": params["W_h"].T.copy()}

    def step(self, t, xw_t, h_prev, c_prev, h_next, c_next, params, cache) -> None:
        raise NotImplementedError

    def step_back(self, t, dh, dc, h_prev, c_prev, h_next, params, cache):
        """Return ``(dh_prev, dc_prev)`` given the total gradients ``dh, dc`` reaching step t's outputs."""
        raise NotImplementedError

    def hidden_grads(self, H_prev: np.ndarray, params, grads, cache) -> None:
        """Add ``dW_h`` (and cell-specific parameters) after the loop. ``H_prev (T*B, H)``."""
        dA = cache["dA"]
        grads["W_h"] += H_prev.T @ dA.reshape(-1, dA.shape[-1])


class RNNCell(Cell):
    """Elman cell: ``h_next = act(h_prev W_h + x_t W_x + b)``, ``act`` = tanh or relu."""

    name = "RNN"
    n_gates = 1

    def __init__(self, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity

    def step(self, t, xw_t, h_prev, c_prev, h_next, c_next, params, cache) -> None:
        np.matmul(h_prev, params["W_h"], out=h_next)
        h_next += xw_t
        if self.nonlinearity == "tanh":
            np.tanh(h_next, out=h_next)
        else:
            np.maximum(h_next, 0, out=h_next)

    def step_back(self, t, dh, dc, h_prev, c_prev, h_next, params, cache):
        dA = cache["dA"][t]
        if self.nonlinearity == "tanh":
            np.multiply(dh, 1 - h_next * h_next, out=dA)
        else:
            np.multiply(dh, h_next > 0, out=dA)
        return dA @ cache["W_hT"], None


class LSTMCell(Cell):
    """Long short-term memory (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al.)::

        i, f, o = sigmoid(x_t W_x^{i,f,o} + h_prev W_h^{i,f,o} + b^{i,f,o})
        g       = tanh(x_t W_x^g + h_prev W_h^g + b^g)
        c_next  = f * c_prev + i * g
        h_next  = o * tanh(c_next)
    """

    name = "LSTM"
    n_gates = 4
    has_cell_state = True

    def alloc(self, T, B, H, params, dtype):
        cache = super().alloc(T, B, H, params, dtype)
        cache["gates"] = np.empty((T, B, 4 * H), dtype=dtype)  # i, f, g, o after activation
        cache["tanh_c"] = np.empty((T, B, H), dtype=dtype)
        return cache

    def step(self, t, xw_t, h_prev, c_prev, h_next, c_next, params, cache) -> None:
        H = h_prev.shape[1]
        a = cache["gates"][t]
        np.matmul(h_prev, params["W_h"], out=a)
        a += xw_t
        sigmoid_(a[:, : 2 * H])
        np.tanh(a[:, 2 * H : 3 * H], out=a[:, 2 * H : 3 * H])
        sigmoid_(a[:, 3 * H :])
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        np.multiply(f, c_prev, out=c_next)
        c_next += i * g
        tanh_c = cache["tanh_c"][t]
        np.tanh(c_next, out=tanh_c)
        np.multiply(o, tanh_c, out=h_next)

    def step_back(self, t, dh, dc, h_prev, c_prev, h_next, params, cache):
        H = h_prev.shape[1]
        a = cache["gates"][t]
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        tanh_c = cache["tanh_c"][t]
        dA = cache["dA"][t]
        di, df, dg, do = dA[:, :H], dA[:, H : 2 * H], dA[:, 2 * H : 3 * H], dA[:, 3 * H :]
        # h_next = o * tanh(c_next): the cell gradient gathers the path through h_next
        np.multiply(dh, tanh_c, out=do)
        dc = dc + tanh_grad_(dh * o, tanh_c)
        # c_next = f * c_prev + i * g
        np.multiply(dc, g, out=di)
        np.multiply(dc, c_prev, out=df)
        np.multiply(dc, i, out=dg)
        dc_prev = dc * f
        sigmoid_grad_(dA[:, : 2 * H], a[:, : 2 * H])
        tanh_grad_(dg, g)
        sigmoid_grad_(do, o)
        return dA @ cache["W_hT"], dc_prev


class GRUCell(Cell):
    """Gated recurrent unit (Cho et al. 2014), in one of two forms.

    ``reset="after"`` (PyTorch and cuDNN, the default) applies the reset gate after the hidden
    projection and keeps a separate bias ``b_hn`` inside it::

        r, z   = sigmoid(x_t W_x^{r,z} + h_prev W_h^{r,z} + b^{r,z})
        n      = tanh(x_t W_x^n + r * (h_prev W_h^n + b_hn) + b^n)
        h_next = (1 - z) * n + z * h_prev

    ``reset="before"`` is the original form of Cho et al. 2014: ``n = tanh(x_t W_x^n + (r * h_prev) W_h^n
    + b^n)``, which costs a second serial product per step and has no ``b_hn``.
    """

    name = "GRU"
    n_gates = 3

    def __init__(self, reset: str = "after") -> None:
        if reset not in ("after", "before"):
            raise ValueError(f"GRU reset must be 'after' (PyTorch) or 'before' (Cho et al.), got {reset!r}")
        self.reset = reset

    def extra_params(self, hidden_size, dtype):
        return {"b_hn": np.zeros(hidden_size, dtype=dtype)} if self.reset == "after" else {}

    def alloc(self, T, B, H, params, dtype):
        cache = super().alloc(T, B, H, params, dtype)
        cache["gates"] = np.empty((T, B, 3 * H), dtype=dtype)  # r, z, n after activation
        cache["hw"] = np.empty((B, 3 * H if self.reset == "after" else 2 * H), dtype=dtype)
        if self.reset == "after":
            cache["hn"] = np.empty((T, B, H), dtype=dtype)  # h_prev W_h^n + b_hn
            cache["dA_h"] = np.empty((T, B, 3 * H), dtype=dtype)  # dA as seen by W_h
        else:
            W_h = params["W_h"]
            cache["W_h_rz"] = W_h[:, : 2 * H].copy()
            cache["W_h_n"] = W_h[:, 2 * H :].copy()
            cache["W_h_rzT"] = cache["W_h_rz"].T.copy()
            cache["W_h_nT"] = cache["W_h_n"].T.copy()
            cache["rh"] = np.empty((T, B, H), dtype=dtype)  # r * h_prev
        return cache

    def step(self, t, xw_t, h_prev, c_prev, h_next, c_next, params, cache) -> None:
        H = h_prev.shape[1]
        a = cache["gates"][t]
        rz, n = a[:, : 2 * H], a[:, 2 * H :]
        r, z = a[:, :H], a[:, H : 2 * H]
        hw = cache["hw"]
        if self.reset == "after":
            np.matmul(h_prev, params["W_h"], out=hw)
            np.add(xw_t[:, : 2 * H], hw[:, : 2 * H], out=rz)
            sigmoid_(rz)
            hn = cache["hn"][t]
            np.add(hw[:, 2 * H :], params["b_hn"], out=hn)
            np.multiply(r, hn, out=n)
        else:
            np.matmul(h_prev, cache["W_h_rz"], out=hw)
            np.add(xw_t[:, : 2 * H], hw, out=rz)
            sigmoid_(rz)
            rh = cache["rh"][t]
            np.multiply(r, h_prev, out=rh)
            np.matmul(rh, cache["W_h_n"], out=n)
        n += xw_t[:, 2 * H :]
        np.tanh(n, out=n)
        # h_next = (1 - z) * n + z * h_prev = n + z * (h_prev - n)
        np.subtract(h_prev, n, out=h_next)
        h_next *= z
        h_next += n

    def step_back(self, t, dh, dc, h_prev, c_prev, h_next, params, cache):
        H = h_prev.shape[1]
        a = cache["gates"][t]
        r, z, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
        dA = cache["dA"][t]
        dr, dz, dn = dA[:, :H], dA[:, H : 2 * H], dA[:, 2 * H :]
        np.subtract(h_prev, n, out=dz)
        dz *= dh
        sigmoid_grad_(dz, z)
        np.multiply(dh, 1 - z, out=dn)
        tanh_grad_(dn, n)
        dh_prev = dh * z
        if self.reset == "after":
            np.multiply(dn, cache["hn"][t], out=dr)
            sigmoid_grad_(dr, r)
            dA_h = cache["dA_h"][t]
            dA_h[:, : 2 * H] = dA[:, : 2 * H]
            np.multiply(dn, r, out=dA_h[:, 2 * H :])
            dh_prev += dA_h @ cache["W_hT"]
        else:
            drh = dn @ cache["W_h_nT"]
            np.multiply(drh, h_prev, out=dr)
            sigmoid_grad_(dr, r)
            dh_prev += drh * r
            dh_prev += dA[:, : 2 * H] @ cache["W_h_rzT"]
        return dh_prev, None

    def hidden_grads(self, H_prev, params, grads, cache) -> None:
        if self.reset == "after":
            dA_h = cache["dA_h"].reshape(H_prev.shape[0], -1)
            grads["W_h"] += H_prev.T @ dA_h
            H = H_prev.shape[1]
            grads["b_hn"] += dA_h[:, 2 * H :].sum(axis=0)
        else:
            dA = cache["dA"].reshape(H_prev.shape[0], -1)
            H = H_prev.shape[1]
            grads["W_h"][:, : 2 * H] += H_prev.T @ dA[:, : 2 * H]
            grads["W_h"][:, 2 * H :] += cache["rh"].reshape(-1, H).T @ dA[:, 2 * H :]
