"""ONNX export with ONNX's own recurrent operators, run in onnxruntime, against rnnkit (float32, ≤1e-5)."""

import numpy as np
import onnxruntime as ort
import pytest
from _support import rel_err

from rnnkit.cli import main
from rnnkit.io.onnx_export import language_model_graph, recurrent_graph
from rnnkit.models import LanguageModel, LMConfig
from rnnkit.nn import GRU, LSTM, RNN

LAYERS = {
    "rnn-tanh": lambda rng: RNN(3, 5, num_layers=2, rng=rng),
    "rnn-relu-bi": lambda rng: RNN(3, 5, nonlinearity="relu", bidirectional=True, rng=rng),
    "lstm-2-bi": lambda rng: LSTM(3, 5, num_layers=2, bidirectional=True, rng=rng),
    "gru-after": lambda rng: GRU(3, 5, num_layers=2, rng=rng),
    "gru-before-bi": lambda rng: GRU(3, 5, reset="before", bidirectional=True, rng=rng),
}


def session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("kind", LAYERS)
def test_recurrent_layers_match_onnxruntime(kind):
    rng = np.random.default_rng(0)
    layer = LAYERS[kind](rng)
    for unit in (u for row in layer.units for u in row):  # trained-looking weights, non-zero b_hn
        for p in unit.params.values():
            p[...] = rng.uniform(-0.6, 0.6, p.shape)
    LD = layer.num_layers * layer.num_directions
    x = rng.standard_normal((4, 9, 3)).astype(np.float32)
    state = [rng.standard_normal((LD, 4, 5)).astype(np.float32) for _ in range(2 if kind.startswith("lstm") else 1)]
    feeds = {"x": x, **dict(zip(("state_h", "state_c"), state))}
    got = session(recurrent_graph(layer)).run(None, feeds)
    y, s = layer.forward(x, tuple(state) if len(state) == 2 else state[0])
    assert rel_err(got[0], y) <= 1e-5
    for g, w in zip(got[1:], s if isinstance(s, tuple) else (s,)):
        assert rel_err(g, w) <= 1e-5


@pytest.mark.parametrize("cell, tie", [("lstm", False), ("gru", True), ("rnn", False)])
def test_language_model_streams_through_onnx_state(cell, tie):
    rng = np.random.default_rng(1)
    model = LanguageModel(LMConfig(vocab_size=13, cell=cell, hidden_size=6, num_layers=2, tie_weights=tie),
                          rng=rng).eval()
    sess = session(language_model_graph(model))
    ids = rng.integers(0, 13, (2, 8))
    whole, _ = model.forward(ids)
    state = model.initial_state(2)
    parts = list(state) if isinstance(state, tuple) else [state]
    steps = []
    for t in range(8):  # one token at a time, the state passed back in
        out = sess.run(None, {"tokens": ids[:, t:t + 1], **dict(zip(("state_h", "state_c"), parts))})
        steps.append(out[0])
        parts = out[1:]
    assert rel_err(np.concatenate(steps, axis=1), whole) <= 1e-5


def test_export_command_writes_and_checks(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("a b c a b d\n" * 30)
    assert main(["train", "--train", str(tmp_path / "t.txt"), "--hidden", "8", "--layers", "1", "--max-steps", "2",
                 "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert main(["export", str(tmp_path / "run"), "--format", "onnx", "--output", str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    diff = float(out.split("max |logits difference| ")[1].split()[0])
    assert diff <= 1e-5 and (tmp_path / "m.onnx").stat().st_size > 0
