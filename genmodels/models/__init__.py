"""Registry of models: name -> class. Adding a model is one file plus one line here."""

from __future__ import annotations

from .base import GenerativeModel, Phase
from .realnvp import RealNVP

MODELS: dict[str, type[GenerativeModel]] = {
    "realnvp": RealNVP,
}

__all__ = ["MODELS", "GenerativeModel", "Phase"]
