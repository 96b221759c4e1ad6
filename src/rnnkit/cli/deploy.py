"""``rnnkit export``: a trained model out to ONNX or to a PyTorch-loadable safetensors state dict."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """\
examples:
  rnnkit export runs/ptb-small --format onnx --output ptb.onnx
  rnnkit export runs/ptb-small --format torch --output ptb-torch.safetensors

ONNX: inputs tokens (batch, time) int64 and state_h [, state_c] (layers, batch, hidden); outputs logits,
state_h_out [, state_c_out] -- feed the state back to stream. torch: keys encoder.weight, rnn.weight_ih_l0,
..., decoder.weight, decoder.bias (PyTorch's word-language-model names); see rnnkit.io.torch_models.
"""


def register(sub) -> None:
    p = sub.add_parser("export", help="export a trained model to ONNX or a PyTorch state dict", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Export a trained language model for other runtimes.")
    p.add_argument("run", help="run directory (its model.safetensors) or a .safetensors file")
    p.add_argument("--format", choices=["onnx", "torch"], required=True)
    p.add_argument("--output", required=True, help="file to write")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    import numpy as np

    from ..io.model_files import load_language_model
    from .lm import _model_path

    model, vocab, meta = load_language_model(_model_path(args.run))
    out = Path(args.output)
    if args.format == "torch":
        from ..io.torch_models import lm_to_torch_state_dict, save_torch_safetensors

        save_torch_safetensors(lm_to_torch_state_dict(model), out)
        print(f"wrote {out} ({len(vocab):,}-token {model.config.cell.upper()} language model, PyTorch names)")
        return 0
    from ..io.onnx_export import language_model_graph, save_onnx

    save_onnx(language_model_graph(model), out)
    print(f"wrote {out} (ONNX opset with {model.config.cell.upper()} operators)")
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime is not installed: the graph was checked by onnx.checker but not run")
        return 0
    ids = np.random.default_rng(0).integers(0, len(vocab), (2, 7))
    state = model.initial_state(2)
    parts = state if isinstance(state, tuple) else (state,)
    feeds = {"tokens": ids, **{name: p for name, p in zip(("state_h", "state_c"), parts)}}
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(["logits"], feeds)[0]
    want, _ = model.forward(ids, state)
    print(f"checked in onnxruntime {ort.__version__}: max |logits difference| {np.abs(got - want).max():.2e}")
    return 0
