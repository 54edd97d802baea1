"""Registry of models: name -> class. Adding a model is one file plus one line here."""

from __future__ import annotations

from .base import GenerativeModel, Phase
from .ddpm import DDPM
from .ebm import EBM
from .flow_matching import FlowMatching
from .gan import GAN, LSGAN, NSGAN, WGAN, WGANGP
from .glow import Glow
from .iaf import IAF
from .maf import MAF
from .nsf import NSF
from .planar import PlanarFlow
from .radial import RadialFlow
from .realnvp import RealNVP
from .score import ScoreModel
from .sylvester import SylvesterFlow
from .vae import VAE

MODELS: dict[str, type[GenerativeModel]] = {
    "realnvp": RealNVP,
    "maf": MAF,
    "iaf": IAF,
    "glow": Glow,
    "nsf": NSF,
    "planar": PlanarFlow,
    "radial": RadialFlow,
    "sylvester": SylvesterFlow,
    "vae": VAE,
    "gan": GAN,
    "nsgan": NSGAN,
    "lsgan": LSGAN,
    "wgan": WGAN,
    "wgan-gp": WGANGP,
    "flow-matching": FlowMatching,
    "ddpm": DDPM,
    "score": ScoreModel,
    "ebm": EBM,
}

__all__ = ["MODELS", "GenerativeModel", "Phase"]
