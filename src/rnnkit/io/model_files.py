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
    import datetime
    import json

    vocab = meta.get("vocab", {}).get("tokens", [])
    training = meta.get("training", {})
    card = {
        "format": "rnnkit-model-card",
        "kind": meta.get("kind"),
        "rnnkit_version": meta.get("rnnkit_version"),
        "model_format_version": meta.get("model_format_version"),
        "architecture": meta.get("model"),
        "parameters": num_parameters,
        "vocabulary": {"level": meta.get("level"), "size": len(vocab), "first_tokens": vocab[:20]},
        "training_data": meta.get("data") or training.get("corpus", {}).get("source"),
        "training": {k: training[k] for k in ("epoch", "step", "config") if k in training} or None,
        "metrics": meta.get("metrics"),
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    path = card_path(checkpoint)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def check_lm_meta(path: Path | str, meta: dict) -> None:
    """Refuse files that are not rnnkit language models of a format this version reads."""
    if meta.get("kind") != LM_KIND:
        raise CheckpointError(f"'{path}' holds a {meta.get('kind', 'unknown')!r}, not a language model")
    version = meta.get("model_format_version")
    if not isinstance(version, int) or version > MODEL_FORMAT_VERSION:
        raise CheckpointError(
            f"'{path}' was written by rnnkit {meta.get('rnnkit_version', '?')} in model format {version}; "
            f"this rnnkit reads format {MODEL_FORMAT_VERSION} and older: upgrade rnnkit to load it"
        )


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
