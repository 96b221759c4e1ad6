"""ONNX export with ONNX's own RNN, LSTM and GRU operators.

The graph takes and returns the recurrent state as explicit tensors, so a runtime can stream with it:
feed a window (or a single step), keep the returned state, pass it back with the next one.

Gate orders differ: rnnkit (like PyTorch) packs LSTM gates ``i, f, g, o`` and GRU gates ``r, z, n``;
ONNX packs LSTM ``i, o, f, c`` and GRU ``z, r, h``. rnnkit's PyTorch-form GRU (reset after the hidden
product) is ONNX's ``linear_before_reset=1`` with ``Rb_h = b_hn``; the original Cho et al. form (reset
before) is ``linear_before_reset=0``. ONNX's two biases ``Wb, Rb`` enter as a sum, like rnnkit's ``b``.

Requires the ``onnx`` package (``pip install rnnkit[export]``); running the graph needs ``onnxruntime``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..nn.cells import GRUCell, LSTMCell, RNNCell
from ..nn.recurrent import Recurrent

ONNX_OPSET = 17
ONNX_IR_VERSION = 8  # readable by onnxruntime releases from 1.10 on
# rows of rnnkit's packed gates, in ONNX's order
_GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as err:
        raise ImportError("ONNX export needs the onnx package: pip install 'rnnkit[export]' (or pip install onnx)") from err
    return onnx, helper, numpy_helper


def _reorder(W: np.ndarray, order: list[int], H: int) -> np.ndarray:
    """Permute the gate blocks along axis 0 of ``W (G*H, ...)``."""
    return np.concatenate([W[g * H : (g + 1) * H] for g in order], axis=0)


class GraphBuilder:
    """Collects nodes and initializers with unique names."""

    def __init__(self, dtype) -> None:
        _, self.helper, self.numpy_helper = _onnx()
        self.dtype = np.dtype(dtype)
        self.nodes, self.inits = [], []
        self._n = 0

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.name(base)
        # np.array, not np.ascontiguousarray, which would turn a scalar into shape (1,)
        self.inits.append(self.numpy_helper.from_array(np.array(value, order="C"), name))
        return name

    def node(self, op: str, inputs: list[str], n_out: int = 1, base: str | None = None, **attrs) -> list[str]:
        outs = [self.name(base or op.lower()) for _ in range(n_out)]
        self.nodes.append(self.helper.make_node(op, inputs, outs, name=self.name(op), **attrs))
        return outs


def _cell_kind(layer: Recurrent) -> tuple[str, dict]:
    cell = layer.cell
    if isinstance(cell, LSTMCell):
        return "LSTM", {}
    if isinstance(cell, GRUCell):
        return "GRU", {"linear_before_reset": 1 if cell.reset == "after" else 0}
    if isinstance(cell, RNNCell):
        return "RNN", {"activations": ["Tanh" if cell.nonlinearity == "tanh" else "Relu"] * layer.num_directions}
    raise TypeError(f"no ONNX operator for cell {type(cell).__name__}")


def add_recurrent(g: GraphBuilder, layer: Recurrent, x: str, h0: str, c0: str | None
                  ) -> tuple[str, str, str | None]:
    """Add ``layer`` to the graph. ``x``: ``(T, B, I)`` time-major; ``h0, c0``: ``(L*D, B, H)``.

    Returns ``(y (T, B, D*H), h_n, c_n)`` tensor names.
    """
    op, attrs = _cell_kind(layer)
    order, H, D = _GATE_ORDER[op], layer.hidden_size, layer.num_directions
    hs, cs = [], []
    for k, row in enumerate(layer.units):
        W = np.stack([_reorder(u.params["W_x"].T, order, H) for u in row])  # (D, G*H, I)
        R = np.stack([_reorder(u.params["W_h"].T, order, H) for u in row])  # (D, G*H, H)
        Wb = np.stack([_reorder(u.params["b"], order, H) for u in row])
        Rb = np.zeros_like(Wb)
        if op == "GRU" and layer.cell.reset == "after":
            Rb[:, 2 * H :] = np.stack([u.params["b_hn"] for u in row])
        B = np.concatenate([Wb, Rb], axis=1)  # (D, 2*G*H)
        lo, hi = g.const("lo", np.array([k * D], np.int64)), g.const("hi", np.array([(k + 1) * D], np.int64))
        axis0 = g.const("axis", np.array([0], np.int64))
        inputs = [x, g.const("W", W), g.const("R", R), g.const("B", B), "",
                  g.node("Slice", [h0, lo, hi, axis0])[0]]
        if op == "LSTM":
            inputs.append(g.node("Slice", [c0, lo, hi, axis0])[0])
        outs = g.node(op, inputs, n_out=3 if op == "LSTM" else 2, base=f"{op.lower()}_l{k}", hidden_size=H,
                      direction="bidirectional" if D == 2 else "forward", **attrs)
        hs.append(outs[1])
        if op == "LSTM":
            cs.append(outs[2])
        y = g.node("Transpose", [outs[0]], perm=[0, 2, 1, 3])[0]  # (T, D, B, H) -> (T, B, D, H)
        x = g.node("Reshape", [y, g.const("shape", np.array([0, 0, -1], np.int64))])[0]  # (T, B, D*H)
    h_n = g.node("Concat", hs, axis=0)[0] if len(hs) > 1 else g.node("Identity", hs)[0]
    c_n = None
    if cs:
        c_n = g.node("Concat", cs, axis=0)[0] if len(cs) > 1 else g.node("Identity", cs)[0]
    return x, h_n, c_n


def stateful_stack(g: GraphBuilder, layer: Recurrent, x: str) -> tuple[str, list, list]:
    """Add ``layer`` reading ``x (T, B, I)`` from the graph inputs ``state_h`` (and ``state_c`` for
    LSTM), ``(L*D, batch, H)``, and writing its final state to the outputs ``state_h_out`` (and
    ``state_c_out``). Returns ``y (T, B, D*H)`` and the value infos of those state inputs and outputs."""
    helper = g.helper
    elem = helper.np_dtype_to_tensor_dtype(g.dtype)
    lstm = layer.cell.has_cell_state
    y, h_n, c_n = add_recurrent(g, layer, x, "state_h", "state_c" if lstm else None)
    shape = [layer.num_layers * layer.num_directions, "batch", layer.hidden_size]
    inputs, outputs = [], []
    for name, final in [("state_h", h_n), ("state_c", c_n)][: 2 if lstm else 1]:
        g.node("Identity", [final])
        g.nodes[-1].output[0] = f"{name}_out"
        inputs.append(helper.make_tensor_value_info(name, elem, shape))
        outputs.append(helper.make_tensor_value_info(f"{name}_out", elem, shape))
    return y, inputs, outputs


def language_model_graph(model):
    """The ONNX model of a ``LanguageModel``.

    Inputs: ``tokens (batch, time)`` int64, ``state_h`` (and ``state_c`` for LSTM)
    ``(num_layers, batch, hidden)``. Outputs: ``logits (batch, time, vocab)``, ``state_h_out``
    (and ``state_c_out``). Batch and time are dynamic.
    """
    onnx, helper, _ = _onnx()
    cfg = model.config
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(cfg.dtype))
    g = GraphBuilder(cfg.dtype)
    emb = g.const("embedding", model.embedding.params["W"])
    x = g.node("Gather", [emb, "tokens"], axis=0)[0]  # (B, T, D)
    x = g.node("Transpose", [x], perm=[1, 0, 2])[0]  # (T, B, D)
    y, state_in, state_out = stateful_stack(g, model.core, x)
    y = g.node("Transpose", [y], perm=[1, 0, 2])[0]  # (B, T, H)
    if cfg.tie_weights:
        W_out = model.embedding.params["W"].T
    else:
        W_out = model.decoder.params["W"]
    logits = g.node("MatMul", [y, g.const("decoder_W", W_out)])[0]
    g.node("Add", [logits, g.const("decoder_b", model.decoder.params["b"])], base="logits")
    g.nodes[-1].output[0] = "logits"
    inputs = [helper.make_tensor_value_info("tokens", onnx.TensorProto.INT64, ["batch", "time"]), *state_in]
    outputs = [helper.make_tensor_value_info("logits", elem, ["batch", "time", cfg.vocab_size]), *state_out]
    graph = helper.make_graph(g.nodes, "rnnkit_language_model", inputs, outputs, g.inits)
    return _model(helper, graph)


def recurrent_graph(layer: Recurrent):
    """The ONNX model of a bare recurrent stack: ``x (batch, time, I)``, ``state_h``/``state_c``
    ``(L*D, batch, H)`` in; ``y (batch, time, D*H)`` and the final state out."""
    onnx, helper, _ = _onnx()
    elem = helper.np_dtype_to_tensor_dtype(layer.dtype)
    g = GraphBuilder(layer.dtype)
    x = g.node("Transpose", ["x"], perm=[1, 0, 2])[0]
    y, state_in, state_out = stateful_stack(g, layer, x)
    g.node("Transpose", [y], perm=[1, 0, 2])
    g.nodes[-1].output[0] = "y"
    inputs = [helper.make_tensor_value_info("x", elem, ["batch", "time", layer.input_size]), *state_in]
    outputs = [helper.make_tensor_value_info("y", elem, ["batch", "time", layer.num_directions * layer.hidden_size]),
               *state_out]
    graph = helper.make_graph(g.nodes, "rnnkit_recurrent", inputs, outputs, g.inits)
    return _model(helper, graph)


def forecaster_graph(net):
    """The ONNX model of a forecaster's network (``Forecaster.net``, a ``ForecastNet``): scaled
    inputs in, the head's raw outputs out; scaling stays outside (see ``rnnkit.io.torch_models``).

    Inputs: ``x (batch, time, C+K)`` — recursive: ``x_t = [z_t, u_{t+1}]``; direct: the context
    ``x_t = [z_t, u_t]`` — ``state_h`` (and ``state_c`` for LSTM) ``(num_layers, batch, H)``, and
    for a direct model with covariates ``u_future (batch, horizon, K)``. Outputs: ``out`` —
    recursive ``(batch, time, C*P)`` (step ``t``: the distribution of ``z_{t+1}``), direct ``(batch,
    horizon, C*P)`` — and ``state_h_out`` (and ``state_c_out``). ``out``'s last axis: ``C`` means,
    then (Gaussian head) ``C`` raw scales. Batch and time are dynamic.
    """
    onnx, helper, _ = _onnx()
    elem = helper.np_dtype_to_tensor_dtype(net.dtype)
    g = GraphBuilder(net.dtype)
    x = g.node("Transpose", ["x"], perm=[1, 0, 2])[0]  # (T, B, C+K)
    y, state_in, state_out = stateful_stack(g, net.core, x)  # y (T, B, H)
    inputs = [helper.make_tensor_value_info("x", elem, ["batch", "time", net.C + net.K])]
    W, b = g.const("head_W", net.head.params["W"]), g.const("head_b", net.head.params["b"])
    if net.strategy == "recursive":
        y = g.node("Transpose", [y], perm=[1, 0, 2])[0]  # (B, T, H)
        g.node("Add", [g.node("MatMul", [y, W])[0], b])
        out_shape = ["batch", "time", net.C * net.P]
    else:
        feats = g.node("Gather", [y, g.const("last", np.array(-1, np.int64))], axis=0)[0]  # h_T (B, H)
        if net.K:
            inputs.append(helper.make_tensor_value_info("u_future", elem, ["batch", net.horizon, net.K]))
            u = g.node("Reshape", ["u_future", g.const("shape", np.array([0, -1], np.int64))])[0]  # (B, h*K)
            feats = g.node("Concat", [feats, u], axis=1)[0]  # (B, H + h*K)
        flat = g.node("Add", [g.node("MatMul", [feats, W])[0], b])[0]  # (B, h*C*P)
        g.node("Reshape", [flat, g.const("shape", np.array([0, net.horizon, net.C * net.P], np.int64))])
        out_shape = ["batch", net.horizon, net.C * net.P]
    g.nodes[-1].output[0] = "out"
    outputs = [helper.make_tensor_value_info("out", elem, out_shape), *state_out]
    graph = helper.make_graph(g.nodes, f"rnnkit_forecaster_{net.strategy}", inputs + state_in, outputs, g.inits)
    return _model(helper, graph)


def _model(helper, graph):
    from .. import __version__

    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], producer_name="rnnkit",
                             producer_version=__version__, ir_version=ONNX_IR_VERSION)


def save_onnx(model_proto, path: str | Path) -> Path:
    """Check the graph and write it atomically."""
    onnx, _, _ = _onnx()
    onnx.checker.check_model(model_proto)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(model_proto.SerializeToString())
    tmp.replace(path)
    return path
