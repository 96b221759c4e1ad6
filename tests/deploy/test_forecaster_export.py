"""A forecaster's network out to PyTorch (safetensors state dict, equivalent torch.nn modules) and ONNX
(onnxruntime): the same raw outputs on the same scaled input, ≤1e-5 relative (float32); and back."""

import json

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import safetensors
import torch
from _support import rel_err
from safetensors.torch import load_file

from rnnkit.cli import main
from rnnkit.io.onnx_export import forecaster_graph
from rnnkit.io.torch_models import forecaster_to_torch_state_dict, load_forecaster_torch_state_dict
from rnnkit.models.forecaster import Forecaster


class TorchForecastNet(torch.nn.Module):
    """The forecaster's network in torch.nn, as documented in rnnkit.io.torch_models."""

    def __init__(self, fc):
        super().__init__()
        net, cfg = fc.net, fc.config
        self.strategy, self.h, self.CP = cfg.strategy, cfg.horizon, net.C * net.P
        rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cfg.cell]
        self.rnn = rnn(net.C + net.K, cfg.hidden_size, cfg.num_layers, batch_first=True)
        head_in = cfg.hidden_size + (cfg.horizon * net.K if cfg.strategy == "direct" else 0)
        self.head = torch.nn.Linear(head_in, self.CP * (cfg.horizon if cfg.strategy == "direct" else 1))

    def forward(self, x, u_future=None, state=None):
        y, state = self.rnn(x, state)
        if self.strategy == "recursive":
            return self.head(y), state
        feats = y[:, -1] if u_future is None else torch.cat([y[:, -1], u_future.reshape(len(x), -1)], dim=1)
        return self.head(feats).reshape(len(x), self.h, self.CP), state


def fitted(strategy, cell="lstm", covariates=True, head="gaussian"):
    t = np.arange(80.0)
    y = {"a": pd.DataFrame({"v": 10 + np.sin(t / 3), "w": np.cos(t / 5)}),
         "b": pd.DataFrame({"v": 3 * np.sin(t / 4), "w": 1 + np.cos(t / 2)})}
    u = {k: pd.DataFrame({"u": t % 7, "d": (t % 3 == 0) * 1.0}) for k in y} if covariates else None
    return Forecaster(strategy=strategy, cell=cell, head=head, hidden_size=7, num_layers=2, lookback=10, horizon=4,
                      epochs=2, n_samples=10).fit(y, covariates=u)


def rnnkit_outputs(net, x, u_future, state=None):
    if net.strategy == "recursive":
        return net.forward_steps(x, state)
    y, state = net.core.forward(x, state)
    return net.direct_head(y[:, -1], u_future), state


@pytest.mark.parametrize("strategy, cell, covariates, head", [("recursive", "lstm", True, "gaussian"),
                                                              ("direct", "gru", True, "gaussian"),
                                                              ("direct", "rnn", False, "point"),
                                                              ("recursive", "gru", False, "point")])
def test_torch_modules_compute_what_rnnkit_computes(tmp_path, strategy, cell, covariates, head):
    fc = fitted(strategy, cell, covariates, head)
    fc.save(tmp_path / "fc.safetensors")
    assert main(["export", str(tmp_path / "fc.safetensors"), "--format", "torch",
                 "--output", str(tmp_path / "torch.safetensors")]) == 0
    module = TorchForecastNet(fc)
    module.load_state_dict(load_file(str(tmp_path / "torch.safetensors")))  # strict: every key, no extra
    net = fc.net
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 12, net.C + net.K)).astype(np.float32)  # scaled inputs
    u_future = rng.standard_normal((3, 4, net.K)).astype(np.float32)
    want, _ = rnnkit_outputs(net, x, u_future)
    with torch.no_grad():
        got, _ = module(torch.from_numpy(x), torch.from_numpy(u_future) if net.K else None)
    assert rel_err(got.numpy(), want) <= 1e-5

    with safetensors.safe_open(str(tmp_path / "torch.safetensors"), "np") as f:
        info = json.loads(f.metadata()["rnnkit_forecaster"])
    np.testing.assert_array_equal(info["std"], fc.scaler_.std)
    assert info["config"]["strategy"] == strategy and info["series"] == ["a", "b"]

    # and back: torch's weights loaded into another forecaster of the same settings
    other = fitted(strategy, cell, covariates, head)
    for p in other.net.parameters():
        p[...] = 0
    load_forecaster_torch_state_dict(other.net, {k: v.numpy() for k, v in module.state_dict().items()})
    for (k, a), b in zip(fc.net.state_dict().items(), other.net.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)


def test_import_refuses_a_dict_of_another_shape():
    fc, other = fitted("recursive"), fitted("direct")
    with pytest.raises(KeyError, match="does not fit this recursive forecaster network"):
        load_forecaster_torch_state_dict(fc.net, {**forecaster_to_torch_state_dict(fc.net), "extra": np.zeros(1)})
    with pytest.raises(ValueError, match="'head.weight': expected shape"):
        load_forecaster_torch_state_dict(fc.net, forecaster_to_torch_state_dict(other.net))


@pytest.mark.parametrize("strategy, cell, covariates", [("recursive", "lstm", True), ("recursive", "rnn", False),
                                                        ("direct", "gru", True), ("direct", "lstm", False)])
def test_onnx_graph_matches_and_streams_with_its_state(strategy, cell, covariates):
    fc = fitted(strategy, cell, covariates)
    net = fc.net
    sess = ort.InferenceSession(forecaster_graph(net).SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, net.C + net.K)).astype(np.float32)
    u_future = rng.standard_normal((2, 4, net.K)).astype(np.float32)
    parts = [rng.standard_normal((2, 2, 7)).astype(np.float32) for _ in range(2 if cell == "lstm" else 1)]
    state = tuple(parts) if cell == "lstm" else parts[0]
    feeds = {"x": x, **dict(zip(("state_h", "state_c"), parts))}
    if net.K and strategy == "direct":
        feeds["u_future"] = u_future
    got = sess.run(None, feeds)
    want, want_state = rnnkit_outputs(net, x, u_future, state)
    assert rel_err(got[0], want) <= 1e-5
    for g, w in zip(got[1:], want_state if isinstance(want_state, tuple) else (want_state,)):
        assert rel_err(g, w) <= 1e-5
    if strategy == "recursive":  # one step at a time, the state passed back in
        steps = []
        for t in range(9):
            out = sess.run(None, {**feeds, "x": x[:, t : t + 1], **dict(zip(("state_h", "state_c"), parts))})
            steps.append(out[0])
            parts = out[1:]
        assert rel_err(np.concatenate(steps, axis=1), want) <= 1e-5


def test_export_command_checks_a_forecaster_in_onnxruntime(tmp_path, capsys):
    fc = fitted("direct")
    fc.save(tmp_path / "fc.safetensors")
    assert main(["export", str(tmp_path / "fc.safetensors"), "--format", "onnx",
                 "--output", str(tmp_path / "f.onnx")]) == 0
    out = capsys.readouterr().out
    assert "direct forecaster" in out
    assert float(out.split("max |out difference| ")[1].split()[0]) <= 1e-5


def test_export_refuses_other_files(tmp_path, capsys):
    from rnnkit.io.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "x.safetensors", {"w": np.zeros(2)}, {"kind": "optimizer"})
    assert main(["export", str(tmp_path / "x.safetensors"), "--format", "torch", "--output", str(tmp_path / "y")]) == 2
    assert "takes a language model (rnnkit train) or a saved forecaster" in capsys.readouterr().err
