"""Saved language models: weights, architecture and vocabulary in one safe checkpoint file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.text import Vocabulary
from ..models.language_model import LanguageModel, LMConfig
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint

MODEL_FORMAT_VERSION = 1
LM_KIND = "language-model"


def lm_meta(model: LanguageModel, vocab: Vocabulary, *, level: str) -> dict:
    from .. import __version__

    return {"kind": LM_KIND, "model_format_version": MODEL_FORMAT_VERSION, "rnnkit_version": __version__,
            "model": model.config.to_json(), "vocab": vocab.to_json(), "level": level}


def save_language_model(path: str | Path, model: LanguageModel, vocab: Vocabulary, *, level: str,
                        extra: dict | None = None) -> Path:
    """Write the model (weights ``model.*``, architecture, vocabulary) atomically to ``path``, and its
    model card beside it."""
    arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta = {**lm_meta(model, vocab, level=level), **(extra or {})}
    path = save_checkpoint(path, arrays, meta)
    write_model_card(path, meta, num_parameters=model.num_parameters())
    return path


def card_path(checkpoint: str | Path) -> Path:
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name.removesuffix(".safetensors") + ".card.json")


def write_model_card(checkpoint: str | Path, meta: dict, *, num_parameters: int) -> Path:
    """A human-readable JSON summary beside ``checkpoint``: architecture, vocabulary, data, metrics,
    library and format versions (``NAME.card.json`` for ``NAME.safetensors``)."""
    vocab = meta.get("vocab", {}).get("tokens", [])
    training = meta.get("training", {})
    return write_card(checkpoint, meta, version_key="model_format_version", fields={
        "architecture": meta.get("model"),
        "parameters": num_parameters,
        "vocabulary": {"level": meta.get("level"), "size": len(vocab), "first_tokens": vocab[:20]},
        "training_data": meta.get("data") or training.get("corpus", {}).get("source"),
        "training": {k: training[k] for k in ("epoch", "step", "config") if k in training} or None,
        "metrics": meta.get("metrics"),
    })


def write_card(checkpoint: str | Path, meta: dict, *, version_key: str, fields: dict) -> Path:
    """Write the model card of any kind of model: the common header (kind, library and format
    versions), then ``fields``, then the time written. Atomic, like the checkpoint beside it."""
    import datetime
    import json

    card = {"format": "rnnkit-model-card", "kind": meta.get("kind"), "rnnkit_version": meta.get("rnnkit_version"),
            version_key: meta.get(version_key), **fields,
            "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    path = card_path(checkpoint)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def check_format(path: Path | str, meta: dict, *, kind: str, version_key: str, current: int, hint: str = "") -> None:
    """Refuse a checkpoint that is not a ``kind``, or whose ``meta[version_key]`` is not a format
    version this rnnkit reads (1 .. ``current``); the message says who wrote it and what to do."""
    if meta.get("kind") != kind:
        raise CheckpointError(f"'{path}' holds a {meta.get('kind', 'unknown')!r}, not a {kind.replace('-', ' ')}{hint}")
    version = meta.get(version_key)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= current:
        label = version_key.removesuffix("_version").replace("_", " ")
        raise CheckpointError(
            f"'{path}' was written by rnnkit {meta.get('rnnkit_version', '?')} in {label} {version}; "
            f"this rnnkit reads {label} {current} and older: "
            + ("upgrade rnnkit to load it" if isinstance(version, int) and version > current
               else "the file is not from a released rnnkit; re-save the model")
        )


def check_lm_meta(path: Path | str, meta: dict) -> None:
    """Refuse files that are not rnnkit language models of a format this version reads."""
    check_format(path, meta, kind=LM_KIND, version_key="model_format_version", current=MODEL_FORMAT_VERSION)


def build_language_model(path: Path | str, arrays: dict[str, np.ndarray], meta: dict
                         ) -> tuple[LanguageModel, Vocabulary]:
    """A model and vocabulary from a checkpoint's arrays and meta (see ``save_language_model``)."""
    check_lm_meta(path, meta)
    vocab = Vocabulary.from_json(meta["vocab"])
    config = LMConfig.from_json(meta["model"])
    if config.vocab_size != len(vocab):
        raise CheckpointError(
            f"'{path}': the model's output layer has {config.vocab_size} tokens but the saved vocabulary "
            f"has {len(vocab)}; the file is inconsistent, retrain or use another checkpoint"
        )
    model = LanguageModel(config, rng=np.random.default_rng(0))
    weights = {k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights)
    except (KeyError, ValueError) as err:
        raise CheckpointError(f"'{path}': the weights do not fit the saved architecture: {err}") from None
    return model, vocab


def load_language_model(path: str | Path) -> tuple[LanguageModel, Vocabulary, dict]:
    """Load a model saved by ``save_language_model`` (or a training checkpoint): model in eval mode."""
    arrays, meta = load_checkpoint(path)
    model, vocab = build_language_model(path, arrays, meta)
    model.eval()
    return model, vocab, meta
