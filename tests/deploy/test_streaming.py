"""Streaming one step at a time gives exactly the outputs of a whole-sequence forward."""

import numpy as np
import pytest

from rnnkit.deploy import StreamingLM
from rnnkit.models import LanguageModel, LMConfig


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_streaming_equals_whole_sequence(cell):
    model = LanguageModel(LMConfig(vocab_size=17, cell=cell, hidden_size=8, num_layers=2, dtype="float64"),
                          rng=np.random.default_rng(0)).eval()
    ids = np.random.default_rng(1).integers(0, 17, (3, 11))
    logits, _ = model.forward(ids)
    whole = np.exp(logits - logits.max(-1, keepdims=True))
    whole /= whole.sum(-1, keepdims=True)
    stream = StreamingLM(model, num_streams=3)
    steps = np.stack([stream.step(ids[:, t]) for t in range(11)], axis=1)
    np.testing.assert_allclose(steps, whole, rtol=1e-12, atol=1e-15)


def test_save_restore_and_reset_one_stream():
    model = LanguageModel(LMConfig(vocab_size=10, hidden_size=6, num_layers=2), rng=np.random.default_rng(0))
    stream = StreamingLM(model, num_streams=2)
    for t in [1, 2, 3]:
        stream.step(np.array([t, t + 1]))
    saved = stream.get_state(0)
    other = stream.get_state(1)
    p_next = stream.step(np.array([4, 4]))
    stream.set_state(0, saved)
    np.testing.assert_array_equal(stream.step(np.array([4, 4]))[0], p_next[0])
    stream.reset(1)
    fresh = StreamingLM(model, num_streams=2)
    np.testing.assert_array_equal(stream.step(np.array([5, 5]))[1], fresh.step(np.array([5, 5]))[1])
    assert not np.array_equal(stream.get_state(1)[0], other[0])
    with pytest.raises(ValueError, match=r"one token per stream, shape \(2,\)"):
        stream.step(np.array([1, 2, 3]))
