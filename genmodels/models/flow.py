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


class Transform(nn.Module):
    """One invertible layer. `forward` maps towards the data, `inverse` towards the base."""

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x = g(z) and log |det ∂x/∂z| per sample."""
        raise NotImplementedError

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = g^{-1}(x) and log |det ∂z/∂x| per sample."""
        raise NotImplementedError


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (z**2).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)


@dataclass(frozen=True)
class FlowConfig:
    """Fields every flow shares; each flow's config extends it."""

    layers: int = 8
    hidden: int = 64


class Flow(GenerativeModel):
    """A base N(0, I) pushed through `self.transforms` (built by the subclass)."""

    family = "flow"
    transforms: nn.ModuleList

    def __init__(self, config, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        self.register_buffer("z_fixed", torch.randn(1000, dim, generator=torch.Generator().manual_seed(0)))

    def to_base(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = g^{-1}(x) and the summed log |det ∂z/∂x|."""
        log_det = x.new_zeros(x.shape[0])
        for t in reversed(self.transforms):
            x, ld = t.inverse(x)
            log_det = log_det + ld
        return x, log_det

    def from_base(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x = g(z) and the summed log |det ∂x/∂z|."""
        log_det = z.new_zeros(z.shape[0])
        for t in self.transforms:
            z, ld = t(z)
            log_det = log_det + ld
        return z, log_det

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        z, log_det = self.to_base(x)
        return standard_normal_log_prob(z) + log_det

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
        return self.from_base(torch.randn(n, self.dim, device=self.device))[0]

    @torch.no_grad()
    def visuals(self, grid: torch.Tensor) -> dict[str, np.ndarray]:
        out = {"samples": self.sample(1000).cpu().numpy()}
        if self.dim == 2:
            out["log_density"] = self.log_prob(grid).cpu().numpy()
            out["stages"] = np.stack([s.cpu().numpy() for s in self.transform_stages(self.z_fixed)])
        return out
