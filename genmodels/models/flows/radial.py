"""Radial flow (Rezende & Mohamed 2015, §4.1).

    g(z) = z + β h(r) (z - z0),  r = ‖z - z0‖,  h(r) = 1 / (α + r),
    log |det ∂g/∂z| = (d - 1) log(1 + β h(r)) + log(1 + β h(r) + β h'(r) r),

and 1 + βh + βh'r = 1 + βα / (α + r)². α = softplus(α̂) > 0 and β = -α + softplus(β̂) > -α
keep g invertible (their Appendix A.2). g moves z along z - z0 only: ρ = ‖g(z) - z0‖ is
the increasing function ρ = r (1 + β / (α + r)) of r, whose root is the positive root of
the quadratic r² + (α + β - ρ) r - αρ = 0, so the inverse is exact and closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .flow import Flow, FlowConfig, Transform

SOFTPLUS_INVERSE_OF_ONE = math.log(math.e - 1)


class Radial(Transform):
    """One radial layer contracting (β < 0) or expanding (β > 0) around z0."""

    def __init__(self, dim: int):
        super().__init__()
        self.z0 = nn.Parameter(torch.randn(dim))
        self.alpha_raw = nn.Parameter(torch.full((), SOFTPLUS_INVERSE_OF_ONE))  # α = 1
        self.beta_raw = nn.Parameter(SOFTPLUS_INVERSE_OF_ONE + 0.1 * torch.randn(()))  # β ≈ 0

    def alpha_beta(self) -> tuple[torch.Tensor, torch.Tensor]:
        alpha = F.softplus(self.alpha_raw)
        return alpha, F.softplus(self.beta_raw) - alpha

    def log_det(self, r: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """log |det ∂g/∂z| at distance r from z0."""
        d = self.z0.numel()
        return (d - 1) * torch.log1p(beta / (alpha + r)) + torch.log1p(beta * alpha / (alpha + r) ** 2)

    def forward(self, z):
        alpha, beta = self.alpha_beta()
        r = (z - self.z0).norm(dim=-1)
        x = z + (beta / (alpha + r))[:, None] * (z - self.z0)
        return x, self.log_det(r, alpha, beta)

    def inverse(self, x):
        alpha, beta = self.alpha_beta()
        rho = (x - self.z0).norm(dim=-1)
        q = alpha + beta - rho
        root = torch.sqrt(q**2 + 4 * alpha * rho)
        # the positive root of r² + q r - αρ, in the form without cancellation for each sign of q
        r = torch.where(q >= 0, 2 * alpha * rho / torch.where(q >= 0, q + root, 1.0), (root - q) / 2)
        z = self.z0 + ((alpha + r) / (alpha + r + beta))[:, None] * (x - self.z0)
        return z, -self.log_det(r, alpha, beta)


@dataclass(frozen=True)
class RadialConfig(FlowConfig):
    layers: int = field(default=32, metadata={"min": 1, "max": 128, "help": "radial layers"})


class RadialFlow(Flow):
    Config = RadialConfig

    def __init__(self, config: RadialConfig, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        self.transforms = self.closed_form_towards_fit(Radial(dim) for _ in range(config.layers))
