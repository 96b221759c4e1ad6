"""The rnnkit command, through its real entry point: train, eval, generate, and errors a user can act on."""

import subprocess
import sys

import pytest

from rnnkit.cli import main

TEXT = "".join(f"the cat sat on the mat number {i % 7}\na dog ran in the park\n" for i in range(60))


@pytest.fixture
def files(tmp_path):
    (tmp_path / "train.txt").write_text(TEXT)
    (tmp_path / "valid.txt").write_text(TEXT[:300])
    return tmp_path


def train(files, out, *extra):
    return main(["train", "--train", str(files / "train.txt"), "--valid", str(files / "valid.txt"),
                 "--level", "word", "--hidden", "16", "--layers", "1", "--epochs", "2", "--batch-size", "4",
                 "--bptt", "8", "--out", str(out), "--quiet", *extra])


def test_train_eval_generate(files, capsys):
    assert train(files, files / "run") == 0
    out = capsys.readouterr().out
    assert "status: finished" in out and "best validation perplexity" in out
    assert main(["eval", str(files / "run"), str(files / "valid.txt")]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("perplexity: ") and float(last.split()[1]) > 1
    assert main(["generate", str(files / "run"), "--prompt", "the cat", "--length", "12", "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("the cat") and len(text.split()) >= 12
    main(["generate", str(files / "run"), "--prompt", "the cat", "--length", "12", "--seed", "3"])
    assert capsys.readouterr().out == text  # reproducible with a seed


def test_settings_from_toml_with_flags_winning(files, capsys):
    (files / "run.toml").write_text(f'train = "{files / "train.txt"}"\nlevel = "char"\nhidden = 8\nlayers = 1\n'
                                    'epochs = 1\nbatch-size = 2\nbptt = 10\nmax_steps = 3\n')
    assert main(["train", "--config", str(files / "run.toml"), "--hidden", "12", "--out", str(files / "r"),
                 "--quiet"]) == 0
    from rnnkit.io.model_files import load_language_model
    model, _, meta = load_language_model(files / "r" / "model.safetensors")
    assert meta["level"] == "char" and model.config.hidden_size == 12
    (files / "bad.toml").write_text("hiden = 3\n")
    assert main(["train", "--config", str(files / "bad.toml"), "--out", str(files / "x")]) == 2
    assert "unknown settings in the config file: ['hiden']" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"", "is empty"),
    (b"\x00\x01binary", "NUL byte"),
    (b"caf\xe9 au lait\n", "not valid UTF-8"),
])
def test_bad_corpus_gets_a_clear_error(files, capsys, content, message):
    path = files / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    code = main(["train", "--train", str(path), "--out", str(files / "run"), "--quiet"])
    assert code == 2
    assert message in capsys.readouterr().err


def test_checkpoint_errors(files, capsys):
    assert train(files, files / "run", "--max-steps", "2") == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(files / "run"), "--hidden", "32"]) == 2
    assert "drop ['--hidden']" in capsys.readouterr().err
    ckpt = files / "run" / "model.safetensors"
    ckpt.write_bytes(ckpt.read_bytes()[:-100])
    assert main(["eval", str(files / "run"), str(files / "valid.txt")]) == 2
    err = capsys.readouterr().err
    assert "truncated" in err or "corrupt" in err


def test_unknown_prompt_words_are_named(files, capsys):
    assert train(files, files / "run", "--max-steps", "2") == 0
    assert main(["generate", str(files / "run"), "--prompt", "the zebra"]) == 2
    assert "'zebra'" in capsys.readouterr().err


def test_installed_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "rnnkit", "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "--tbptt K1 K2" in result.stdout and "Zaremba" in result.stdout
