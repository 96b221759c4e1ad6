"""``rnnkit export``: a trained model out to ONNX or to a PyTorch-loadable safetensors state dict."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """\
examples:
  rnnkit export runs/ptb-small --format onnx --output ptb.onnx
  rnnkit export runs/ptb-small --format torch --output ptb-torch.safetensors
  rnnkit export co2.safetensors --format torch --output co2-torch.safetensors   # a forecaster
  rnnkit export co2.safetensors --format onnx --output co2.onnx

Language models. ONNX: inputs tokens (batch, time) int64 and state_h [, state_c] (layers, batch, hidden);
outputs logits, state_h_out [, state_c_out] -- feed the state back to stream. torch: keys encoder.weight,
rnn.weight_ih_l0, ..., decoder.weight, decoder.bias (PyTorch's word-language-model names).

Forecasters (saved by 'rnnkit forecast --save' or Forecaster.save): the network only, on scaled values.
ONNX: inputs x (batch, time, targets + covariates), state_h [, state_c] and, for a direct model with
covariates, u_future (batch, horizon, covariates); outputs out (means, then Gaussian raw scales),
state_h_out [, state_c_out]. torch: keys rnn.weight_ih_l0, ... (nn.LSTM/GRU/RNN) and head.weight,
head.bias (nn.Linear); the settings and per-series scaling are in the file's metadata.
Mappings and equations: rnnkit.io.torch_models, rnnkit.io.onnx_export, docs/forecasting.md.
"""


def register(sub) -> None:
    p = sub.add_parser("export", help="export a trained model to ONNX or a PyTorch state dict", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Export a trained language model or forecaster for other runtimes.")
    p.add_argument("run", help="run directory (its model.safetensors) or a .safetensors file: a language model "
                               "or a saved forecaster")
    p.add_argument("--format", choices=["onnx", "torch"], required=True)
    p.add_argument("--output", required=True, help="file to write")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ..io.checkpoint import CheckpointError, load_checkpoint
    from ..io.forecaster_files import FORECASTER_KIND
    from ..io.model_files import LM_KIND
    from .lm import _model_path

    path = _model_path(args.run)
    arrays, meta = load_checkpoint(path)
    out = Path(args.output)
    if meta.get("kind") == FORECASTER_KIND:
        return _export_forecaster(path, arrays, meta, args.format, out)
    if meta.get("kind") == LM_KIND:
        return _export_language_model(path, arrays, meta, args.format, out)
    raise CheckpointError(f"'{path}' holds a {meta.get('kind', 'unknown')!r}; rnnkit export takes a language model "
                          "(rnnkit train) or a saved forecaster (rnnkit forecast --save, Forecaster.save)")


def _export_language_model(path, arrays, meta, fmt: str, out: Path) -> int:
    import numpy as np

    from ..io.model_files import build_language_model

    model, vocab = build_language_model(path, arrays, meta)
    model.eval()
    if fmt == "torch":
        from ..io.torch_models import lm_to_torch_state_dict, save_torch_safetensors

        save_torch_safetensors(lm_to_torch_state_dict(model), out)
        print(f"wrote {out} ({len(vocab):,}-token {model.config.cell.upper()} language model, PyTorch names)")
        return 0
    from ..io.onnx_export import language_model_graph, save_onnx

    save_onnx(language_model_graph(model), out)
    print(f"wrote {out} (ONNX opset with {model.config.cell.upper()} operators)")
    ids = np.random.default_rng(0).integers(0, len(vocab), (2, 7))
    state = model.initial_state(2)
    parts = state if isinstance(state, tuple) else (state,)
    feeds = {"tokens": ids, **dict(zip(("state_h", "state_c"), parts))}
    _check_in_onnxruntime(out, feeds, model.forward(ids, state)[0], "logits")
    return 0


def _export_forecaster(path, arrays, meta, fmt: str, out: Path) -> int:
    import numpy as np

    from ..io.forecaster_files import build_forecaster

    fc = build_forecaster(path, arrays, meta)
    net, cfg = fc.net, fc.config
    what = f"{cfg.cell.upper()} {cfg.strategy} forecaster, {cfg.head} head"
    if fmt == "torch":
        from ..io.torch_models import forecaster_to_torch_state_dict, forecaster_torch_metadata, save_torch_safetensors

        save_torch_safetensors(forecaster_to_torch_state_dict(net), out, metadata=forecaster_torch_metadata(fc))
        print(f"wrote {out} ({what}, PyTorch names; settings and scaling in the metadata)")
        return 0
    from ..io.onnx_export import forecaster_graph, save_onnx

    save_onnx(forecaster_graph(net), out)
    print(f"wrote {out} (ONNX, {what}, {cfg.cell.upper()} operators)")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, cfg.lookback, net.C + net.K)).astype(net.dtype)
    zeros = np.zeros((cfg.num_layers, 2, cfg.hidden_size), net.dtype)  # (layers, batch, H)
    state = (zeros, zeros.copy()) if cfg.cell == "lstm" else (zeros,)
    feeds = {"x": x, **dict(zip(("state_h", "state_c"), state))}
    core_state = state if cfg.cell == "lstm" else state[0]
    if cfg.strategy == "recursive":
        want, _ = net.forward_steps(x, core_state)
    else:
        u = rng.standard_normal((2, cfg.horizon, net.K)).astype(net.dtype)
        if net.K:
            feeds["u_future"] = u
        y, _ = net.core.forward(x, core_state)
        want = net.direct_head(y[:, -1], u)
    _check_in_onnxruntime(out, feeds, want, "out")
    return 0


def _check_in_onnxruntime(path: Path, feeds: dict, want, output: str) -> None:
    """Run the written graph on ``feeds`` and print the largest difference of ``output`` from ``want``."""
    import numpy as np

    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime is not installed: the graph was checked by onnx.checker but not run")
        return
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run([output], feeds)[0]
    print(f"checked in onnxruntime {ort.__version__}: max |{output} difference| {np.abs(got - want).max():.2e}")
