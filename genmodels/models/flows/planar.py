"""Planar flow (Rezende & Mohamed 2015, §4.1; course notes, "Planar flow").

    g(z) = z + û h(wᵀz + b),  h = tanh,
    log |det ∂g/∂z| = log |1 + h'(wᵀz + b) wᵀû|   (matrix-determinant lemma).

û = u + (m(wᵀu) - wᵀu) w / ‖w‖² with m(a) = -1 + softplus(a) makes wᵀû > -1, so g is
invertible (their Appendix A.1). g moves z along û only, by an amount set by a = wᵀz; so
the inverse solves the increasing 1D equation a + wᵀû h(a + b) = wᵀx and sets
z = x - û h(a + b).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .flow import Flow, FlowConfig, Transform
from .roots import solve_increasing

SOFTPLUS_INVERSE_OF_ONE = math.log(math.e - 1)  # wᵀu at which m(wᵀu) = 0


class Planar(Transform):
    """One planar layer; forward is the closed form, inverse the 1D root along w."""

    def __init__(self, dim: int):
        super().__init__()
        w = torch.randn(dim)
        self.w = nn.Parameter(w)
        self.u = nn.Parameter(SOFTPLUS_INVERSE_OF_ONE * w / (w @ w) + 0.1 * torch.randn(dim))  # û ≈ 0: near identity
        self.b = nn.Parameter(torch.zeros(()))

    def u_hat(self) -> torch.Tensor:
        """u moved along w so that wᵀû = -1 + softplus(wᵀu) > -1."""
        wu = self.w @ self.u
        return self.u + (F.softplus(wu) - 1 - wu) * self.w / (self.w @ self.w)

    def forward(self, z):
        u = self.u_hat()
        h = torch.tanh(z @ self.w + self.b)
        return z + h[:, None] * u, torch.log1p((1 - h**2) * (self.w @ u))

    def inverse(self, x):
        u = self.u_hat()
        wu = self.w @ u

        def along_w(a):
            h = torch.tanh(a + self.b)
            return a + wu * h, 1 + wu * (1 - h**2)

        t = x @ self.w
        a = solve_increasing(along_w, t, t - wu.abs(), t + wu.abs())
        h = torch.tanh(a + self.b)
        return x - h[:, None] * u, -torch.log1p((1 - h**2) * wu)


@dataclass(frozen=True)
class PlanarConfig(FlowConfig):
    layers: int = field(default=32, metadata={"min": 1, "max": 128, "help": "planar layers"})


class PlanarFlow(Flow):
    Config = PlanarConfig

    def __init__(self, config: PlanarConfig, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        self.transforms = self.closed_form_towards_fit(Planar(dim) for _ in range(config.layers))
