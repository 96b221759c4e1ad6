"""Data: text corpora, vocabularies, and truncated-BPTT streams and windows."""

from rnnkit.data.text import EOS, UNK, CorpusError, Vocabulary, builtin_corpus, read_text, tokenize
from rnnkit.data.windows import (
    Window,
    awd_windows,
    batchify,
    bptt_windows,
    document_starts,
    tbptt_windows,
)

__all__ = [
    "EOS",
    "UNK",
    "CorpusError",
    "Vocabulary",
    "builtin_corpus",
    "read_text",
    "tokenize",
    "Window",
    "awd_windows",
    "batchify",
    "bptt_windows",
    "document_starts",
    "tbptt_windows",
]
