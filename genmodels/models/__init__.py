"""Registry of models: name -> class. Adding a model is one file plus one line here."""

from __future__ import annotations

from .base import GenerativeModel, Phase
from .gan import GAN, LSGAN, NSGAN, WGAN, WGANGP
from .realnvp import RealNVP

MODELS: dict[str, type[GenerativeModel]] = {
    "realnvp": RealNVP,
    "gan": GAN,
    "nsgan": NSGAN,
    "lsgan": LSGAN,
    "wgan": WGAN,
    "wgan-gp": WGANGP,
}

__all__ = ["MODELS", "GenerativeModel", "Phase"]
