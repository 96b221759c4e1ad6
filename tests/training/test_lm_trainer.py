"""The trainer: learning, exact resume, determinism, atomic checkpoints, interruption."""

import json
import math

import numpy as np
import pytest

from rnnkit.data.corpus import load_corpus
from rnnkit.io.checkpoint import load_checkpoint
from rnnkit.io.model_files import load_language_model
from rnnkit.models import LMConfig
from rnnkit.training.lm_trainer import LMTrainer, TrainConfig, perplexity
from rnnkit.training.progress import Progress

TEXT = "\n".join(
    " ".join(["the cat sat on the mat", "a dog ran in the park", "the bird sang a song"][i % 3].split()[: 4 + i % 3])
    for i in range(120)) + "\n"


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "train.txt").write_text(TEXT)
    (tmp_path / "valid.txt").write_text(TEXT[:400])
    return load_corpus(train=tmp_path / "train.txt", valid=tmp_path / "valid.txt", level="word")


def make(corpus, out, cell="lstm", **kw):
    settings = dict(batch_size=4, bptt=6, lr=0.01, optimizer="adam", epochs=2, log_every=5, clip=1.0)
    settings.update(kw)
    model_cfg = LMConfig(vocab_size=len(corpus.vocab), cell=cell, hidden_size=16, num_layers=2, dropout=0.1)
    return LMTrainer.create(model_config=model_cfg, corpus=corpus, config=TrainConfig(**settings), out_dir=out,
                            progress=Progress(enabled=False))


def weights(trainer):
    return {n: p.copy() for n, p, _ in trainer.model.named_parameters()}


def test_training_reduces_perplexity(corpus, tmp_path):
    trainer = make(corpus, tmp_path / "run", epochs=4)
    before = perplexity(trainer.model, corpus.valid, batch_size=2)
    summary = trainer.fit()
    after = perplexity(trainer.model, corpus.valid, batch_size=2)
    assert summary["status"] == "finished"
    assert after < before / 2
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["type"] == "epoch"] == [1, 2, 3, 4]
    assert (tmp_path / "run" / "curve.png").stat().st_size > 1000
    model, vocab, meta = load_language_model(tmp_path / "run" / "model.safetensors")
    assert vocab == corpus.vocab and meta["metrics"]["valid_ppl"] == pytest.approx(summary["valid_ppl"])


@pytest.mark.parametrize("extra", [{}, {"random_bptt": True}, {"tbptt_k1": 3, "tbptt_k2": 7, "optimizer": "sgd",
                                                                "lr": 0.5, "schedule": "step", "decay_start": 1}])
def test_resume_is_exact(corpus, tmp_path, extra):
    whole = make(corpus, tmp_path / "whole", **extra)
    whole.fit()
    first = make(corpus, tmp_path / "part", max_steps=13, **extra)  # stops mid-epoch
    assert first.fit()["status"] == "stopped"
    resumed = LMTrainer.resume(tmp_path / "part", progress=Progress(enabled=False), overrides={"max_steps": None})
    assert resumed.step == 13 and resumed.pos > 0
    resumed.fit()
    for name, value in weights(whole).items():
        np.testing.assert_array_equal(weights(resumed)[name], value, err_msg=name)
    losses = lambda run: [(r["step"], r["train_ppl"]) for r in
                          map(json.loads, (tmp_path / run / "metrics.jsonl").read_text().splitlines())]
    assert losses("part") == losses("whole")


def test_same_seed_same_numbers_other_seed_differs(corpus, tmp_path):
    a, b, c = (make(corpus, tmp_path / n, seed=s, max_steps=8) for n, s in (("a", 1), ("b", 1), ("c", 2)))
    for t in (a, b, c):
        t.fit()
    assert all(np.array_equal(weights(a)[n], v) for n, v in weights(b).items())
    assert not all(np.array_equal(weights(a)[n], v) for n, v in weights(c).items())


def test_tbptt_with_k1_equal_k2_is_plain_truncated_bptt(corpus, tmp_path):
    plain = make(corpus, tmp_path / "plain", max_steps=10)
    k = make(corpus, tmp_path / "k", max_steps=10, tbptt_k1=6, tbptt_k2=6)
    plain.fit()
    k.fit()
    for name, value in weights(plain).items():
        np.testing.assert_array_equal(weights(k)[name], value)


def test_ctrl_c_saves_a_checkpoint_that_resumes(corpus, tmp_path):
    trainer = make(corpus, tmp_path / "run")
    original_step = trainer._train_step

    def step_then_interrupt(w):
        norm = original_step(w)
        if trainer.step == 6:  # the SIGINT handler sets this flag; the loop stops after the step
            trainer.stop_requested = True
        return norm

    trainer._train_step = step_then_interrupt
    summary = trainer.fit()
    assert summary["status"] == "interrupted" and summary["step"] == 7
    _, meta = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert meta["training"]["step"] == 7
    assert LMTrainer.resume(tmp_path / "run", progress=Progress(enabled=False)).step == 7


def test_a_crash_while_writing_keeps_the_previous_checkpoint(corpus, tmp_path, monkeypatch):
    trainer = make(corpus, tmp_path / "run", max_steps=3)
    trainer.fit()
    path = tmp_path / "run" / "checkpoint.safetensors"
    before = path.read_bytes()
    trainer.step += 100

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")) == []
    monkeypatch.undo()
    assert LMTrainer.resume(tmp_path / "run", progress=Progress(enabled=False)).step == 3


def test_resume_refuses_changed_data_and_settings(corpus, tmp_path):
    make(corpus, tmp_path / "run", max_steps=2).fit()
    with pytest.raises(ValueError, match="cannot change 'bptt' when resuming"):
        LMTrainer.resume(tmp_path / "run", overrides={"bptt": 9})
    (tmp_path / "train.txt").write_text(TEXT + "the cat ran\n")
    with pytest.raises(ValueError, match="training text differs"):
        LMTrainer.resume(tmp_path / "run")
    other = load_corpus(train=tmp_path / "train.txt", level="char")
    with pytest.raises(ValueError, match="another vocabulary"):
        LMTrainer.resume(tmp_path / "run", corpus=other)
    with pytest.raises(FileExistsError, match="already holds a run"):
        make(corpus, tmp_path / "run")


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size(corpus):
    model_cfg = LMConfig(vocab_size=len(corpus.vocab), hidden_size=4, num_layers=1)
    from rnnkit.models import LanguageModel
    model = LanguageModel(model_cfg, rng=np.random.default_rng(0))
    model.decoder.params["W"][...] = 0
    model.decoder.params["b"][...] = 0
    assert math.isclose(perplexity(model, corpus.train, batch_size=3), len(corpus.vocab), rel_tol=1e-5)


def test_documents_reset_the_state_where_each_begins(tmp_path):
    from rnnkit.data.corpus import tokenize_documents
    tokens, starts = tokenize_documents("a b\nc\n\n\nd e\n\nf\n", level="word")
    assert tokens == ["a", "b", "<eos>", "c", "<eos>", "d", "e", "<eos>", "f", "<eos>"]
    assert np.flatnonzero(starts).tolist() == [0, 5, 8]
    (tmp_path / "docs.txt").write_text("\n\n".join(TEXT.splitlines()[i:i + 5] and "\n".join(TEXT.splitlines()[i:i + 5])
                                                   for i in range(0, 100, 5)) + "\n")
    corpus = load_corpus(train=tmp_path / "docs.txt", level="word", documents=True)
    trainer = make(corpus, tmp_path / "run", max_steps=4)
    seen = []
    original = trainer.model.forward
    trainer.model.forward = lambda ids, state=None, *, resets=None: (seen.append(resets), original(ids, state, resets=resets))[1]
    trainer.fit()
    assert any(r is not None and r.any() for r in seen)
    resumed = LMTrainer.resume(tmp_path / "run", progress=Progress(enabled=False))
    assert resumed.corpus.train_doc_starts is not None
