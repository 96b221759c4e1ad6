"""File formats: checkpoints (safetensors + JSON). Nothing here unpickles."""

from rnnkit.io.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]
