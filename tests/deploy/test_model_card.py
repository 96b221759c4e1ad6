"""A model card beside every checkpoint; a clear error for a checkpoint from a newer format."""

import json

import numpy as np
import pytest

from rnnkit.data.text import Vocabulary
from rnnkit.io.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rnnkit.io.model_files import load_language_model, save_language_model
from rnnkit.models import LanguageModel, LMConfig


def test_card_and_version_check(tmp_path):
    vocab = Vocabulary(["<unk>", "<eos>", "a", "b"])
    model = LanguageModel(LMConfig(vocab_size=4, hidden_size=3, num_layers=1), rng=np.random.default_rng(0))
    path = save_language_model(tmp_path / "m.safetensors", model, vocab, level="word",
                               extra={"metrics": {"valid_ppl": 3.5}})
    card = json.loads((tmp_path / "m.card.json").read_text())
    assert card["architecture"]["cell"] == "lstm" and card["parameters"] == model.num_parameters()
    assert card["vocabulary"]["size"] == 4 and card["metrics"]["valid_ppl"] == 3.5
    assert card["rnnkit_version"] and card["model_format_version"] == 1

    arrays, meta = load_checkpoint(path)
    meta["model_format_version"] = 99
    meta["rnnkit_version"] = "9.0"
    save_checkpoint(tmp_path / "future.safetensors", arrays, meta)
    with pytest.raises(CheckpointError, match=r"written by rnnkit 9.0 in model format 99; .* upgrade rnnkit"):
        load_language_model(tmp_path / "future.safetensors")
    meta["model_format_version"] = 1
    meta["model"]["hidden_size"] = 5
    save_checkpoint(tmp_path / "other.safetensors", arrays, meta)
    with pytest.raises(CheckpointError, match="do not fit the saved architecture"):
        load_language_model(tmp_path / "other.safetensors")
