"""Models composed from engine layers."""

from .language_model import LanguageModel, LMConfig

__all__ = ["LanguageModel", "LMConfig"]
