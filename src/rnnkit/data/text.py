"""Text corpora for language modelling: reading, tokenising, vocabularies and a built-in corpus.

A corpus goes ``read_text`` -> ``tokenize`` -> ``Vocabulary.build`` / ``encode`` -> a 1-D int64
id stream, which :mod:`rnnkit.data.windows` cuts into parallel streams and BPTT windows.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = [
    "CorpusError",
    "read_text",
    "tokenize",
    "Vocabulary",
    "builtin_corpus",
    "UNK",
    "EOS",
]

UNK = "<unk>"
EOS = "<eos>"


class CorpusError(ValueError):
    """A corpus file or token sequence cannot be used: says what was expected and what to do."""


def read_text(path: str | os.PathLike) -> str:
    """Read a UTF-8 text file, strictly.

    A leading byte-order mark is dropped and line ends (``\\r\\n``, ``\\r``) become ``\\n``, as
    Python's text mode does. Raises :class:`CorpusError` for a missing file, a directory, a binary
    file (NUL bytes), invalid UTF-8 (with byte offset, line and column) and an empty or
    whitespace-only file.
    """
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"corpus file '{path}' does not exist (working directory: {Path.cwd()})")
    if path.is_dir():
        raise CorpusError(f"'{path}' is a directory; pass a text file such as '{path}/train.txt'")
    raw = path.read_bytes()
    nul = raw.find(b"\0")
    if nul >= 0:
        raise CorpusError(
            f"'{path}' contains a NUL byte at offset {nul}: it is a binary file, not text. "
            "If it is UTF-16 text, convert it: iconv -f UTF-16 -t UTF-8 IN > OUT"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise CorpusError(
            f"'{path}' is not valid UTF-8: byte {raw[err.start]:#04x} at offset {err.start} "
            f"(line {line}, byte {column} of the line): {err.reason}. Re-encode the file, e.g. "
            "iconv -f LATIN1 -t UTF-8 IN > OUT (replace LATIN1 by its real encoding)"
        ) from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        what = "empty" if not text else "whitespace only"
        raise CorpusError(f"corpus file '{path}' is {what}; a language model needs text to learn")
    return text


def tokenize(text: str, *, level: Literal["word", "char"]) -> list[str]:
    """Split text into tokens.

    ``level="word"``: the Penn Treebank convention of Mikolov's PTB files and PyTorch's
    word-language-model example — each line, read as a file iterates it (split on ``"\\n"``, a
    final newline does not start an extra line), becomes its whitespace-separated words followed
    by ``"<eos>"``; an empty line gives just ``"<eos>"``.

    ``level="char"``: every character, the newline kept as ``"\\n"``; no ``<eos>``.
    """
    if level == "char":
        return list(text)
    if level != "word":
        raise ValueError(f"tokenize: level must be 'word' or 'char', got {level!r}")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    tokens: list[str] = []
    for line in lines:
        tokens.extend(line.split())
        tokens.append(EOS)
    return tokens


class Vocabulary:
    """A bijection between tokens and ids ``0 .. len-1``.

    ``Vocabulary.build`` puts the specials first (``<unk>`` = 0, then ``<eos>`` = 1 at word level),
    then the other tokens by decreasing frequency, ties broken by first occurrence in the corpus
    (deterministic, and the order PTB code assigns for equal counts). Tokens outside the
    vocabulary map to ``<unk>``. A ``<unk>`` already in the text (PTB has many) is counted as the
    special, not added twice.
    """

    def __init__(self, tokens: Sequence[str], *, unk: str = UNK) -> None:
        """Make a vocabulary whose id ``i`` is ``tokens[i]``; ``unk`` must be among them."""
        self._tokens: tuple[str, ...] = tuple(tokens)
        self._ids = {token: i for i, token in enumerate(self._tokens)}
        if len(self._ids) != len(self._tokens):
            dupes = [t for t, n in Counter(self._tokens).items() if n > 1]
            raise ValueError(f"Vocabulary: tokens must be unique, got duplicates {dupes[:10]}")
        if unk not in self._ids:
            raise ValueError(f"Vocabulary: the unknown token {unk!r} must be one of the tokens")
        self.unk = unk

    @classmethod
    def build(
        cls,
        tokens: Iterable[str],
        *,
        level: Literal["word", "char"],
        max_size: int | None = None,
        min_freq: int = 1,
    ) -> Vocabulary:
        """Count ``tokens`` and keep the frequent ones.

        Args:
            tokens: the training token sequence.
            level: ``"word"`` adds the specials ``<unk>``, ``<eos>``; ``"char"`` only ``<unk>``.
            max_size: at most this many entries *including* the specials (the output layer size).
            min_freq: drop tokens seen fewer times.
        """
        specials = {"word": [UNK, EOS], "char": [UNK]}.get(level)
        if specials is None:
            raise ValueError(f"Vocabulary.build: level must be 'word' or 'char', got {level!r}")
        if max_size is not None and max_size < len(specials):
            raise ValueError(
                f"Vocabulary.build: max_size={max_size} leaves no room for the specials "
                f"{specials}; use max_size >= {len(specials)}"
            )
        if min_freq < 1:
            raise ValueError(f"Vocabulary.build: min_freq must be >= 1, got {min_freq}")
        counts = Counter(tokens)  # insertion order = first occurrence
        ranked = sorted(
            (t for t, n in counts.items() if n >= min_freq and t not in specials),
            key=lambda t: -counts[t],  # sorted() is stable: ties keep first-occurrence order
        )
        kept = specials + ranked
        return cls(kept if max_size is None else kept[:max_size])

    @property
    def tokens(self) -> tuple[str, ...]:
        return self._tokens

    @property
    def unk_id(self) -> int:
        return self._ids[self.unk]

    @property
    def eos_id(self) -> int | None:
        """Id of ``<eos>``, or None for a vocabulary without it (character level)."""
        return self._ids.get(EOS)

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self._tokens == other._tokens and self.unk == other.unk

    def __hash__(self) -> int:
        return hash((self._tokens, self.unk))

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)}, first={list(self._tokens[:5])})"

    def encode(
        self, tokens: Iterable[str], *, unknown: Literal["unk", "error"] = "unk"
    ) -> np.ndarray:
        """Map tokens to ids: ``(n,)`` int64.

        ``unknown="unk"`` maps unseen tokens to ``<unk>``; ``unknown="error"`` raises
        :class:`CorpusError` naming up to 10 of them (in order of first occurrence) and how many.
        """
        if unknown not in ("unk", "error"):
            raise ValueError(f"encode: unknown must be 'unk' or 'error', got {unknown!r}")
        get, ids = self._ids.get, self._ids
        if unknown == "error":
            tokens = list(tokens)
            missing = Counter(t for t in tokens if t not in ids)
            if missing:
                shown = ", ".join(f"{t!r} ({n}x)" for t, n in list(missing.items())[:10])
                more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
                raise CorpusError(
                    f"{sum(missing.values())} tokens ({len(missing)} distinct) are not in the "
                    f"vocabulary of {len(self)} tokens: {shown}{more}. Pass unknown='unk' to map "
                    f"them to {self.unk!r}, or build the vocabulary from text that contains them"
                )
        unk_id = self.unk_id
        return np.fromiter((get(t, unk_id) for t in tokens), dtype=np.int64)

    def decode(self, ids: Iterable[int] | np.ndarray) -> list[str]:
        """Map ids (any iterable of ints, or a 1-D integer array) back to tokens."""
        ids = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids))
        if ids.size == 0:
            return []
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                f"decode: expected a 1-D sequence of ints, got {ids.dtype} array {ids.shape}"
            )
        bad = ids[(ids < 0) | (ids >= len(self))]
        if bad.size:
            raise ValueError(
                f"decode: ids {bad[:10].tolist()} are outside 0..{len(self) - 1}; was this id "
                "stream made with another vocabulary?"
            )
        return [self._tokens[i] for i in ids.tolist()]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict: ``{"format": "rnnkit-vocabulary", "unk": ..., "tokens": [...]}``."""
        return {"format": "rnnkit-vocabulary", "unk": self.unk, "tokens": list(self._tokens)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vocabulary:
        if not isinstance(data, dict) or data.get("format") != "rnnkit-vocabulary":
            raise ValueError(
                "Vocabulary.from_json: expected a dict made by Vocabulary.to_json() with "
                f"format 'rnnkit-vocabulary', got {str(data)[:80]!r}"
            )
        return cls(data["tokens"], unk=data["unk"])


def builtin_corpus() -> str:
    """English text available on every Python install, without a download.

    Source: the CPython documentation text that ships in the standard library module
    ``pydoc_data.topics`` (what ``help("if")`` prints): the values of its ``topics`` dict, joined
    with ``"\\n"`` in sorted-key order. Size depends on the Python version (about 0.46 million
    characters on CPython 3.11). Licence: the Python documentation is distributed under the PSF
    License Version 2, Copyright (c) Python Software Foundation.

    Raises :class:`CorpusError` when ``pydoc_data`` was stripped from the installation.
    """
    try:
        from pydoc_data.topics import topics
    except ImportError as err:
        raise CorpusError(
            "the built-in corpus comes from the standard library's pydoc_data package, which "
            "this Python installation lacks (some minimal distributions strip it); install a "
            "full Python, or pass your own text file"
        ) from err
    return "\n".join(topics[key] for key in sorted(topics))
