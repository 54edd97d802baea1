"""Registry of models: name -> class. Adding a model is one file plus one line here."""

from __future__ import annotations

from .base import GenerativeModel, Phase
from .glow import Glow
from .iaf import IAF
from .maf import MAF
from .nsf import NSF
from .realnvp import RealNVP

MODELS: dict[str, type[GenerativeModel]] = {
    "realnvp": RealNVP,
    "maf": MAF,
    "iaf": IAF,
    "glow": Glow,
    "nsf": NSF,
}

__all__ = ["MODELS", "GenerativeModel", "Phase"]
