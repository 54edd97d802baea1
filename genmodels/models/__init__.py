"""Registry of models: name -> class. Adding a model is one file plus one line here."""

from __future__ import annotations

from .base import GenerativeModel, Phase
from .diffusion.ddpm import DDPM
from .diffusion.ebm import EBM
from .diffusion.flow_matching import FlowMatching
from .diffusion.score import ScoreModel
from .flows.glow import Glow
from .flows.iaf import IAF
from .flows.maf import MAF
from .flows.nsf import NSF
from .flows.planar import PlanarFlow
from .flows.radial import RadialFlow
from .flows.realnvp import RealNVP
from .flows.sylvester import SylvesterFlow
from .gans.gan import GAN, LSGAN, NSGAN, WGAN, WGANGP
from .vaes.vae import VAE

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
