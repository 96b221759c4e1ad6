"""Models outside the training script: streaming inference."""

from .streaming import StreamingLM

__all__ = ["StreamingLM"]
