"""Normalising flows: x = g(z) = g_K ∘ ... ∘ g_1(z), z ~ N(0, I).

Change of variables (course notes, "Invertible transformations"):
    log p(x) = log N(g^{-1}(x); 0, I) + log |det J_{g^{-1}}(x)|.
Every layer is a `Transform` that returns its output and log |det J| together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .base import GenerativeModel

EVAL_BATCH = 512  # images per batch when evaluating held-out metrics


class Transform(nn.Module):
    """One invertible layer. `forward` maps towards the data, `inverse` towards the base."""

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x = g(z) and log |det ∂x/∂z| per sample."""
        raise NotImplementedError

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = g^{-1}(x) and log |det ∂z/∂x| per sample."""
        raise NotImplementedError

    def init_from_data(self, x: torch.Tensor) -> None:
        """Data-dependent initialisation from the inputs `inverse` will see (e.g. ActNorm)."""


class Inverse(Transform):
    """g^{-1} as a layer: forward and inverse swap roles (a MAF layer is an inverted IAF layer)."""

    def __init__(self, transform: Transform):
        super().__init__()
        self.transform = transform

    def forward(self, z):
        return self.transform.inverse(z)

    def inverse(self, x):
        return self.transform(x)


def run_forward(transforms, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Compose transforms listed from the base side to the data side: x and the summed log |det ∂x/∂z|."""
    log_det = z.new_zeros(z.shape[0])
    for t in transforms:
        z, ld = t(z)
        log_det = log_det + ld
    return z, log_det


def run_inverse(transforms, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of `run_forward`: z and the summed log |det ∂z/∂x|."""
    log_det = x.new_zeros(x.shape[0])
    for t in reversed(transforms):
        x, ld = t.inverse(x)
        log_det = log_det + ld
    return x, log_det


@torch.no_grad()
def init_from_data(transforms, x: torch.Tensor) -> None:
    """Push data towards the base, letting each layer initialise from what reaches it."""
    for t in reversed(transforms):
        t.init_from_data(x)
        x, _ = t.inverse(x)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (z**2).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)


@dataclass(frozen=True)
class FlowConfig:
    """Fields every flow shares; each flow's config extends it."""

    layers: int = 8
    hidden: int = 64


class Flow(GenerativeModel):
    """A base N(0, I) pushed through `self.transforms` (built by the subclass).

    Images (when `levels` is set) are modelled after uniform dequantisation
    (Theis et al. 2016): y = (x·(L−1) + u)/L with u ~ U[0, 1)^D turns the L grey levels
    k/(L−1) of x into a continuous y in [0, 1]^D, and log p(y) then bounds the discrete
    likelihood: log P(x) ≥ E_u log p(y) − D log L. For images `log_prob(x)` is log p(y) at
    one fresh draw of u (so `test_nll` is nats per image of the dequantised density, an
    unbiased estimate of E_u[−log p(y)]) and `metrics` adds bits per dimension
    bpd = (nll/D + log L)/log 2, an upper bound on −log₂ P(x)/D.
    """

    family = "flow"
    transforms: nn.ModuleList

    def __init__(self, config, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        self.register_buffer("z_fixed", torch.randn(1000, dim, generator=torch.Generator().manual_seed(0)))

    def dequantise(self, x: torch.Tensor) -> torch.Tensor:
        """y = (x·(L−1) + u)/L for image data, x itself for continuous data."""
        if self.levels is None:
            return x
        return (x * (self.levels - 1) + torch.rand_like(x)) / self.levels

    def quantise(self, y: torch.Tensor) -> torch.Tensor:
        """The grey level k/(L−1) whose dequantisation cell [k/L, (k+1)/L) holds y (clipped to [0, 1])."""
        if self.levels is None:
            return y
        return (y * self.levels).floor().clamp(0, self.levels - 1) / (self.levels - 1)

    def to_base(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = g^{-1}(x) and the summed log |det ∂z/∂x|."""
        return run_inverse(self.transforms, x)

    def from_base(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x = g(z) and the summed log |det ∂x/∂z|."""
        return run_forward(self.transforms, z)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        z, log_det = self.to_base(self.dequantise(x))
        return standard_normal_log_prob(z) + log_det

    def init_from_data(self, x: torch.Tensor) -> None:
        init_from_data(self.transforms, self.dequantise(x))

    def loss(self, x: torch.Tensor, phase: str = "model") -> dict[str, torch.Tensor]:
        """Maximum likelihood: minimise the mean negative log-likelihood (forward KL)."""
        nll = -self.log_prob(x).mean()
        return {"loss": nll, "nll": nll}

    def transform_stages(self, z: torch.Tensor) -> list[torch.Tensor]:
        """The points after each layer: [z, g_1(z), g_2(g_1(z)), ..., x] (the notes' Fig. 6)."""
        stages = [z]
        for t in self.transforms:
            z, _ = t(z)
            stages.append(z)
        return stages

    def sample(self, n: int) -> torch.Tensor:
        return self.quantise(self.from_base(torch.randn(n, self.dim, device=self.device))[0])

    @torch.no_grad()
    def metrics(self, x_test: torch.Tensor) -> dict[str, float]:
        """Images: test_nll (nats per image) and test_bpd from one and the same dequantisation draw."""
        if self.levels is None:
            return {}
        nll = float(torch.cat([-self.log_prob(b) for b in x_test.split(EVAL_BATCH)]).mean())
        return {"test_nll": nll, "test_bpd": (nll / self.dim + math.log(self.levels)) / math.log(2)}

    @torch.no_grad()
    def visuals(self, grid: torch.Tensor | None) -> dict[str, np.ndarray]:
        if grid is None and len(self.shape) == 3:
            return {"samples": self.sample(64).view(64, *self.shape[-2:]).cpu().numpy()}
        out = {"samples": self.sample(1000).cpu().numpy()}
        if self.dim == 2:
            out["log_density"] = self.log_prob(grid).cpu().numpy()
            out["stages"] = np.stack([s.cpu().numpy() for s in self.transform_stages(self.z_fixed)])
        return out
