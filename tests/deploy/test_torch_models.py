"""A language model trained in rnnkit, loaded into the equivalent torch.nn modules, gives the same
perplexity; and back."""

import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rnnkit.cli import main
from rnnkit.data.text import read_text, tokenize
from rnnkit.io.model_files import load_language_model
from rnnkit.io.torch_models import load_lm_torch_state_dict, lm_to_torch_state_dict
from rnnkit.models import LanguageModel
from rnnkit.training.lm_trainer import perplexity


class TorchLM(torch.nn.Module):
    """PyTorch's word-language-model RNNModel, without dropout."""

    def __init__(self, cell, V, D, H, L):
        super().__init__()
        self.encoder = torch.nn.Embedding(V, D)
        self.rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](D, H, L, batch_first=True)
        self.decoder = torch.nn.Linear(H, V)

    def forward(self, ids, state=None):
        y, state = self.rnn(self.encoder(ids), state)
        return self.decoder(y), state


def torch_perplexity(module, ids, bptt=35):
    total, count, state = 0.0, 0, None
    streams = torch.tensor(ids[None, :])
    with torch.no_grad():
        for i in range(0, streams.shape[1] - 1, bptt):
            x, y = streams[:, i:i + bptt], streams[:, i + 1:i + 1 + bptt]
            x = x[:, :y.shape[1]]
            logits, state = module(x, state)
            total += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                                       reduction="sum").item()
            count += y.numel()
    return math.exp(total / count)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_trained_model_gives_the_same_perplexity_in_torch(tmp_path, cell):
    text = "".join(f"the {w} sat on the mat\n" for w in ["cat", "dog", "bird", "cat"] * 20)
    (tmp_path / "train.txt").write_text(text)
    (tmp_path / "test.txt").write_text(text[:500])
    assert main(["train", "--train", str(tmp_path / "train.txt"), "--cell", cell, "--hidden", "12", "--layers", "2",
                 "--epochs", "4", "--optimizer", "adam", "--lr", "0.02", "--batch-size", "4", "--bptt", "8", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert main(["export", str(tmp_path / "run"), "--format", "torch", "--output", str(tmp_path / "lm.safetensors")]) == 0
    model, vocab, _ = load_language_model(tmp_path / "run" / "model.safetensors")
    cfg = model.config
    module = TorchLM(cell, cfg.vocab_size, cfg.embedding_size, cfg.hidden_size, cfg.num_layers)
    module.load_state_dict(load_file(str(tmp_path / "lm.safetensors")))
    ids = vocab.encode(tokenize(read_text(tmp_path / "test.txt"), level="word"))
    ours = perplexity(model, ids, batch_size=1, bptt=35)
    assert ours < 0.5 * len(vocab)  # it learned something, so the comparison means something
    assert torch_perplexity(module, ids) == pytest.approx(ours, rel=1e-5)

    # and back: the torch weights loaded into a fresh rnnkit model
    fresh = LanguageModel(cfg, rng=np.random.default_rng(5))
    load_lm_torch_state_dict(fresh, {k: v.numpy() for k, v in module.state_dict().items()})
    assert perplexity(fresh, ids, batch_size=1) == pytest.approx(ours, rel=1e-6)


def test_tied_model_exports_one_matrix_twice_and_checks_it():
    from rnnkit.models import LMConfig
    model = LanguageModel(LMConfig(vocab_size=9, hidden_size=4, num_layers=1, tie_weights=True),
                          rng=np.random.default_rng(0))
    sd = lm_to_torch_state_dict(model)
    np.testing.assert_array_equal(sd["decoder.weight"], sd["encoder.weight"])
    sd["decoder.weight"] = sd["decoder.weight"] + 1
    with pytest.raises(ValueError, match="ties its weights"):
        load_lm_torch_state_dict(model, sd)
