"""``rnnkit diagnose`` and ``rnnkit task`` through the real entry point; the CLI's numbers are the API's."""

import json

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.diagnostics import diagnose_fresh, diagnose_language_model
from rnnkit.io.model_files import load_language_model

PNGS = ["gradient_flow.png", "spectra.png", "activations.png", "grad_norms.png"]


def test_diagnose_fresh_cells_writes_plots_summary_and_the_api_numbers(tmp_path, capsys):
    args = ["--cells", "rnn", "lstm", "--hidden", "8", "--T", "12", "--batch", "3", "--norm-steps", "3", "--seed", "4"]
    assert main(["diagnose", *args, "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("RNN: gradient ") and printed[1].startswith("LSTM: gradient ")
    for name in PNGS:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "report.json").read_text())
    api = diagnose_fresh(cells=("rnn", "lstm"), hidden_size=8, T=12, batch_size=3, norm_steps=3, seed=4)
    assert saved == json.loads(json.dumps(api))
    assert (tmp_path / "summary.txt").read_text().strip() == api["summary"]
    flow = saved["models"][0]["layers"][0]["flow"]
    assert flow["lags"] == list(range(12)) and flow["log10_mean"][0] == pytest.approx(0.0, abs=1e-12)


def test_diagnose_a_trained_language_model(tmp_path, capsys):
    text = "".join(f"the cat sat on the mat number {i % 7}\n" for i in range(80))
    (tmp_path / "train.txt").write_text(text)
    assert main(["train", "--train", str(tmp_path / "train.txt"), "--level", "char", "--cell", "gru", "--hidden", "8",
                 "--layers", "2", "--epochs", "1", "--max-steps", "3", "--batch-size", "2", "--bptt", "8",
                 "--out", str(tmp_path / "run"), "--quiet"]) == 0
    capsys.readouterr()
    out = tmp_path / "diag"
    assert main(["diagnose", "--checkpoint", str(tmp_path / "run"), "--text", str(tmp_path / "train.txt"),
                 "--T", "10", "--batch", "2", "--norm-steps", "2", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("GRU layer 0: ") and lines[1].startswith("GRU layer 1: ")
    saved = json.loads((out / "report.json").read_text())
    model, vocab, _ = load_language_model(tmp_path / "run" / "model.safetensors")
    from rnnkit.data.text import tokenize
    ids = np.array(vocab.encode(tokenize(text, level="char")))[:22].reshape(2, 11)
    api = diagnose_language_model(model, ids, norm_steps=2)
    assert saved["models"] == json.loads(json.dumps(api["models"]))
    assert main(["diagnose", "--checkpoint", str(tmp_path / "run"), "--T", "5", "--batch", "2",
                 "--norm-steps", "0", "--out", str(tmp_path / "sampled")]) == 0  # text sampled from the model
    assert not (tmp_path / "sampled" / "grad_norms.png").exists()


def test_task_command_reports_against_the_baseline(tmp_path, capsys):
    assert main(["task", "adding", "--T", "6", "--cell", "rnn", "--hidden", "8", "--max-steps", "5", "--quiet",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "adding T=6 RNN: 5 steps" in out and "trivial baseline 0.1667" in out
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["steps"] == 5 and len(result["loss"]) == 5
    assert main(["task", "copy", "--T", "4", "--cell", "gru", "--hidden", "8", "--max-steps", "2", "--quiet"]) == 0
    assert f"trivial baseline {10 * np.log(8) / 24:.4f}" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["diagnose", "--T", "1"], "--T must be >= 2"),
    (["diagnose", "--max-lag", "20", "--T", "10"], "--max-lag must lie in [0, T-1]"),
    (["diagnose", "--text", "x.txt"], "--text needs --checkpoint"),
    (["diagnose", "--checkpoint", "nowhere.safetensors"], "nowhere"),
    (["task", "adding", "--T", "1"], "T to be an integer >= 2"),
])
def test_errors_say_what_to_do(tmp_path, capsys, args, message):
    assert main([*args, "--out", str(tmp_path)] if args[0] == "diagnose" else args) == 2
    assert message in capsys.readouterr().err
