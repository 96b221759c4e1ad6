"""A language-modelling corpus: train/valid/test token ids and the vocabulary, from files or the
built-in text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .text import CorpusError, Vocabulary, builtin_corpus, read_text, tokenize

BUILTIN_NAME = "builtin:pydoc"  # CPython's documentation text (pydoc_data), PSF License
BUILTIN_VALID_FRACTION = 0.05


@dataclass
class Corpus:
    """Token ids ``(n,)`` int64 for each split, encoded with ``vocab``; ``valid``/``test`` may be None."""

    vocab: Vocabulary
    level: str
    train: np.ndarray
    valid: np.ndarray | None
    test: np.ndarray | None
    source: dict
    train_doc_starts: np.ndarray | None = None  # (n,) bool, True at each document's first token

    def summary(self) -> str:
        parts = [f"{name} {len(ids):,} tokens" for name, ids in
                 (("train", self.train), ("valid", self.valid), ("test", self.test)) if ids is not None]
        return f"{self.level}-level corpus, vocabulary {len(self.vocab):,}: " + ", ".join(parts)


def encode_text(text: str, vocab: Vocabulary, *, level: str) -> np.ndarray:
    return vocab.encode(tokenize(text, level=level))


def tokenize_documents(text: str, *, level: str) -> tuple[list[str], np.ndarray]:
    """Tokens of documents separated by blank lines, and ``(n,)`` bool marking each document's first
    token. The blank lines themselves give no tokens."""
    docs = [d for d in re.split(r"\n[ \t]*\n", text) if d.strip()]
    tokens, starts = [], []
    for doc in docs:
        doc_tokens = tokenize(doc.strip("\n") + "\n", level=level)
        starts.append(len(tokens))
        tokens.extend(doc_tokens)
    doc_starts = np.zeros(len(tokens), dtype=bool)
    doc_starts[starts] = True
    return tokens, doc_starts


def load_corpus(*, train: str | Path | None, valid: str | Path | None = None, test: str | Path | None = None,
                level: Literal["word", "char"] = "word", max_vocab: int | None = None, min_freq: int = 1,
                vocab: Vocabulary | None = None, documents: bool = False) -> Corpus:
    """Read and encode the corpus. The vocabulary is built from the training text unless given.

    With ``train=None`` the built-in text is used (``BUILTIN_NAME``): its last 5% is the validation
    split. Words outside the vocabulary become ``<unk>``. ``documents=True`` reads the training text
    as documents separated by blank lines: the trainer resets each stream's state where one begins.
    """
    if train is None:
        if valid is not None or test is not None:
            raise CorpusError("--valid/--test need --train: give the training text too")
        text = builtin_corpus()
        cut = text.rfind("\n", 0, int(len(text) * (1 - BUILTIN_VALID_FRACTION))) + 1
        train_text, valid_text, test_text = text[:cut], text[cut:], None
        source = {"train": BUILTIN_NAME, "valid": f"{BUILTIN_NAME} (last {BUILTIN_VALID_FRACTION:.0%})"}
    else:
        train_text = read_text(train)
        valid_text = read_text(valid) if valid is not None else None
        test_text = read_text(test) if test is not None else None
        source = {k: str(v) for k, v in (("train", train), ("valid", valid), ("test", test)) if v is not None}
    doc_starts = None
    if documents:
        train_tokens, doc_starts = tokenize_documents(train_text, level=level)
    else:
        train_tokens = tokenize(train_text, level=level)
    if vocab is None:
        vocab = Vocabulary.build(train_tokens, level=level, max_size=max_vocab, min_freq=min_freq)
    if len(vocab) < 2:
        raise CorpusError(f"the training text gives a vocabulary of {len(vocab)} token(s); it needs at least 2")
    train_ids = vocab.encode(train_tokens)
    if len(train_ids) < 2:
        raise CorpusError("the training text has fewer than 2 tokens; a language model needs more text")
    return Corpus(
        vocab=vocab, level=level, train=train_ids,
        valid=encode_text(valid_text, vocab, level=level) if valid_text is not None else None,
        test=encode_text(test_text, vocab, level=level) if test_text is not None else None,
        source=source, train_doc_starts=doc_starts,
    )
