"""The language model: gradients (finite differences, float64) incl. tied weights and dropout; generation."""

import numpy as np
import pytest
from _support import numeric_grad

from rnnkit.models import LanguageModel, LMConfig
from rnnkit.nn import SoftmaxCrossEntropy


@pytest.mark.parametrize("cell, tie, dropout", [("lstm", False, 0.0), ("gru", True, 0.0), ("rnn", False, 0.3),
                                                ("lstm", True, 0.25)])
def test_language_model_gradients(cell, tie, dropout):
    cfg = LMConfig(vocab_size=7, cell=cell, hidden_size=4, num_layers=2, dropout=dropout, tie_weights=tie,
                   dtype="float64")
    model = LanguageModel(cfg, rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    ids, targets = rng.integers(0, 7, (2, 5)), rng.integers(0, 7, (2, 5))
    loss_fn = SoftmaxCrossEntropy()

    def loss():
        model.rng.bit_generator.state = np.random.default_rng(9).bit_generator.state  # same dropout masks
        logits, _ = model.forward(ids)
        return loss_fn.forward(logits, targets)

    loss()
    model.zero_grad()
    model.backward(loss_fn.backward())
    names = [n for n, _, _ in model.named_parameters()]
    assert ("decoder.W" in names) != tie  # a tied model has one matrix, shared
    for name, p, g in model.named_parameters():
        np.testing.assert_allclose(g, numeric_grad(loss, p), rtol=1e-6, atol=1e-9, err_msg=name)


def test_tied_weights_share_the_array():
    model = LanguageModel(LMConfig(vocab_size=9, hidden_size=4, tie_weights=True), rng=np.random.default_rng(0))
    model.embedding.params["W"][2, 1] = 5.0
    logits, _ = model.forward(np.array([[0]]))
    h = model.drop_out.forward(model.core.forward(model.embedding.forward(np.array([[0]])))[0])
    np.testing.assert_allclose(logits[0, 0, 2], h[0, 0] @ model.embedding.params["W"][2] + model.decoder.params["b"][2],
                               rtol=1e-5)
    with pytest.raises(ValueError, match="tie_weights needs embed_size == hidden_size"):
        LMConfig(vocab_size=9, hidden_size=4, embed_size=3, tie_weights=True)


def test_generation_is_reproducible_and_respects_top_k():
    model = LanguageModel(LMConfig(vocab_size=30, hidden_size=8, num_layers=1), rng=np.random.default_rng(0))
    prompt = np.array([1, 2, 3])
    a = model.generate(prompt, 20, rng=np.random.default_rng(5))
    b = model.generate(prompt, 20, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, model.generate(prompt, 20, rng=np.random.default_rng(6)))
    greedy = model.generate(prompt, 5, greedy=True)
    logits, _ = model.forward(prompt[None])
    assert greedy[0] == np.argmax(logits[0, -1])
    top1 = model.generate(prompt, 5, top_k=1, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(top1, greedy)
    assert model.training  # generate() restores the mode


def test_generation_equals_whole_sequence_forward():
    """One token at a time with the carried state gives the logits of a whole-sequence forward."""
    model = LanguageModel(LMConfig(vocab_size=12, hidden_size=6, cell="gru", dtype="float64"),
                          rng=np.random.default_rng(0))
    model.eval()
    ids = np.random.default_rng(1).integers(0, 12, (1, 9))
    whole, _ = model.forward(ids)
    state, steps = None, []
    for t in range(9):
        logits, state = model.forward(ids[:, t:t + 1], state)
        steps.append(logits)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), whole, rtol=1e-12, atol=1e-13)
