"""RealNVP: alternating affine coupling layers (Dinh et al. 2017; course notes, "affine coupling layer").

Forward  g(x) = (x_0, exp(s(x_0)) ⊙ x_1 + t(x_0)),  log |det J| = Σ_i s(x_0)_i.
The split is a binary mask that alternates between layers; s is bounded as scale · tanh(·).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .flow import Flow, FlowConfig, Transform
from .nets import mlp


class AffineCoupling(Transform):
    """Dimensions where mask = 1 pass through and condition the affine map of the rest.

    `net` maps the masked input (N, D) to (N, 2D): s then t. Any network does (an MLP for
    vectors, a CNN that reshapes for Glow's images); its last layer is zero-initialised here
    so that the coupling starts as the identity.
    """

    def __init__(self, mask: torch.Tensor, net: nn.Module):
        super().__init__()
        dim = mask.numel()
        self.register_buffer("mask", mask)
        self.net = net
        self.scale = nn.Parameter(torch.ones(dim))
        last = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def shift_and_log_scale(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(x * self.mask).chunk(2, dim=-1)
        free = 1 - self.mask
        return t * free, self.scale * torch.tanh(s) * free

    def forward(self, z):
        t, s = self.shift_and_log_scale(z)
        return z * torch.exp(s) + t, s.sum(-1)

    def inverse(self, x):
        t, s = self.shift_and_log_scale(x)
        return (x - t) * torch.exp(-s), -s.sum(-1)


def alternating_masks(dim: int, layers: int) -> list[torch.Tensor]:
    """Even dimensions pass through in even layers, odd dimensions in odd layers."""
    even = (torch.arange(dim) % 2 == 0).float()
    return [even if k % 2 == 0 else 1 - even for k in range(layers)]


@dataclass(frozen=True)
class RealNVPConfig(FlowConfig):
    layers: int = field(default=8, metadata={"min": 1, "max": 32, "help": "coupling layers"})
    hidden: int = field(default=128, metadata={"min": 4, "max": 1024, "help": "hidden width of s and t"})
    depth: int = field(default=2, metadata={"min": 1, "max": 6, "help": "hidden layers of s and t"})


class RealNVP(Flow):
    Config = RealNVPConfig

    def __init__(self, config: RealNVPConfig, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        self.transforms = nn.ModuleList(
            AffineCoupling(m, mlp(dim, 2 * dim, config.hidden, config.depth))
            for m in alternating_masks(dim, config.layers)
        )
