"""Corpus reading, tokenisation, vocabularies and the built-in corpus."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.text import (
    EOS,
    UNK,
    CorpusError,
    Vocabulary,
    builtin_corpus,
    read_text,
    tokenize,
)

# ------------------------------------------------------------------ read_text


def test_read_text_normalises_newlines_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffcaf\u00e9 one\r\ntwo\rthree\n".encode())
    assert read_text(path) == "caf\u00e9 one\ntwo\nthree\n"


def test_read_text_errors(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        read_text(tmp_path / "missing.txt")
    with pytest.raises(CorpusError, match="is a directory; pass a text file"):
        read_text(tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(CorpusError, match="is empty"):
        read_text(tmp_path / "empty.txt")
    (tmp_path / "blank.txt").write_bytes(b" \n\t\n")
    with pytest.raises(CorpusError, match="is whitespace only"):
        read_text(tmp_path / "blank.txt")
    (tmp_path / "bin.dat").write_bytes("hi".encode("utf-16-le"))
    with pytest.raises(CorpusError, match="NUL byte at offset 1: it is a binary file.*iconv"):
        read_text(tmp_path / "bin.dat")


def test_read_text_points_at_the_bad_byte(tmp_path: Path) -> None:
    text = "first line\nsecond caf\u00e9\nthird\n"
    raw = text.encode("latin-1")
    offset = raw.index(b"\xe9")
    path = tmp_path / "latin.txt"
    path.write_bytes(raw)
    line_start = raw.rindex(b"\n", 0, offset) + 1
    with pytest.raises(CorpusError) as err:
        read_text(path)
    msg = str(err.value)
    assert f"byte 0xe9 at offset {offset}" in msg
    assert f"(line 2, byte {offset - line_start + 1} of the line)" in msg
    assert "iconv -f LATIN1 -t UTF-8" in msg


# ------------------------------------------------------------------ tokenize


def test_word_tokens_follow_ptb_file_iteration(tmp_path: Path) -> None:
    text = " the cat\n\nsat  on <unk>\nlast line without newline"
    path = tmp_path / "t.txt"
    path.write_text(text)
    # PyTorch word_language_model/data.py: for line in f: words = line.split() + ['<eos>']
    with open(path) as f:
        expected = [w for line in f for w in line.split() + ["<eos>"]]
    assert tokenize(text, level="word") == expected
    assert tokenize(text + "\n", level="word") == expected  # a final newline adds no line


def test_char_tokens_keep_newlines() -> None:
    assert tokenize("ab\nc", level="char") == ["a", "b", "\n", "c"]
    with pytest.raises(ValueError, match="level must be 'word' or 'char', got 'byte'"):
        tokenize("x", level="byte")


# ------------------------------------------------------------------ Vocabulary

TOKENS = "b a c a b d a <unk> e e".split()


def test_build_orders_by_frequency_then_first_occurrence() -> None:
    vocab = Vocabulary.build(TOKENS, level="word")
    # counts: a3 b2 e2 c1 d1 (<unk> in the text is the special); ties: b before e, c before d
    assert vocab.tokens == (UNK, EOS, "a", "b", "e", "c", "d")
    assert vocab.unk_id == 0 and vocab.eos_id == 1
    char_vocab = Vocabulary.build(list("hello"), level="char")
    assert char_vocab.tokens == (UNK, "l", "h", "e", "o") and char_vocab.eos_id is None


def test_build_max_size_and_min_freq() -> None:
    assert Vocabulary.build(TOKENS, level="word", max_size=4).tokens == (UNK, EOS, "a", "b")
    assert Vocabulary.build(TOKENS, level="word", min_freq=2).tokens == (UNK, EOS, "a", "b", "e")
    with pytest.raises(ValueError, match="max_size=1 leaves no room"):
        Vocabulary.build(TOKENS, level="word", max_size=1)


def test_encode_decode_round_trip_and_unknowns() -> None:
    vocab = Vocabulary.build(TOKENS, level="word", min_freq=2)
    ids = vocab.encode(["a", "zzz", "e", EOS])
    assert ids.dtype == np.int64
    assert ids.tolist() == [vocab.tokens.index("a"), vocab.unk_id, vocab.tokens.index("e"), 1]
    assert vocab.decode(ids) == ["a", UNK, "e", EOS]
    assert vocab.decode(vocab.encode(TOKENS, unknown="unk")) == [
        t if t in vocab else UNK for t in TOKENS
    ]
    with pytest.raises(ValueError, match=r"ids \[7\] are outside 0..4"):
        vocab.decode([0, 7])


def test_encode_error_lists_unknown_tokens() -> None:
    vocab = Vocabulary.build(["a"], level="word")
    unknown = [f"w{i}" for i in range(12)]
    with pytest.raises(CorpusError) as err:
        vocab.encode(["a"] + unknown + ["w0"], unknown="error")
    msg = str(err.value)
    assert "13 tokens (12 distinct) are not in the vocabulary of 3 tokens" in msg
    assert "'w0' (2x)" in msg and "'w9' (1x)" in msg and "'w10'" not in msg
    assert "and 2 more" in msg and "unknown='unk'" in msg


def test_json_round_trip_and_equality() -> None:
    vocab = Vocabulary.build(TOKENS, level="word")
    again = Vocabulary.from_json(json.loads(json.dumps(vocab.to_json())))
    assert again == vocab and len(again) == len(vocab) == 7
    assert again != Vocabulary.build(TOKENS, level="char")
    with pytest.raises(ValueError, match="expected a dict made by Vocabulary.to_json"):
        Vocabulary.from_json({"tokens": ["a"]})
    with pytest.raises(ValueError, match="duplicates"):
        Vocabulary(["<unk>", "a", "a"])


# ------------------------------------------------------------------ builtin corpus


def test_builtin_corpus_is_the_pydoc_topics_text() -> None:
    from pydoc_data.topics import topics

    text = builtin_corpus()
    assert text == "\n".join(topics[k] for k in sorted(topics))
    assert topics["if"] in text
    tokens = tokenize(text, level="word")
    assert len(Vocabulary.build(tokens, level="word")) > 2  # real words, not just specials


def test_builtin_corpus_without_pydoc_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydoc_data.topics", None)  # makes the import fail
    with pytest.raises(CorpusError, match="lacks .*install a full Python"):
        builtin_corpus()
