"""Registry of models: name -> class. Adding a model is one file plus one line here."""

from __future__ import annotations

from .base import GenerativeModel, Phase
from .realnvp import RealNVP
from .vae import VAE

MODELS: dict[str, type[GenerativeModel]] = {
    "realnvp": RealNVP,
    "vae": VAE,
}

__all__ = ["MODELS", "GenerativeModel", "Phase"]
