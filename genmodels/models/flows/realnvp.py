"""RealNVP: alternating affine coupling layers (Dinh et al. 2017; course notes, "affine coupling layer").

Towards the base (the paper's eq. 4-6), with x_a passed through and x_b transformed:
    z_a = x_a,   z_b = x_b ⊙ exp(s(x_a)) + t(x_a),   log |det ∂z/∂x| = Σ_i s(x_a)_i,
and towards the data x_b = (z_b - t(z_a)) ⊙ exp(-s(z_a)). The split is a binary mask that
alternates between layers; s is bounded as scale · tanh(·).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..nets import mlp
from .flow import Flow, FlowConfig, Transform


class AffineCoupling(Transform):
    """Dimensions where mask = 1 (x_a) pass through and condition the affine map of the rest (x_b).

    `net` maps x_a (N, |a|) to s then t for x_b (N, 2|b|). Any network does (an MLP for
    vectors, a CNN that reshapes for Glow's images); its last layer is zero-initialised here
    so that the coupling starts as the identity. Seeing only x_a and predicting only for x_b
    spends no work on masked zeros, and the training direction is a single multiply-add.
    """

    def __init__(self, mask: torch.Tensor, net: nn.Module):
        super().__init__()
        self.register_buffer("a", mask.nonzero()[:, 0])
        self.register_buffer("b", (mask == 0).nonzero()[:, 0])
        self.net = net
        self.scale = nn.Parameter(torch.ones(len(self.b)))
        last = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def shift_and_log_scale(self, x_a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(x_a).chunk(2, dim=-1)
        return t, self.scale * torch.tanh(s)

    def forward(self, z):
        t, s = self.shift_and_log_scale(z.index_select(-1, self.a))
        x_b = (z.index_select(-1, self.b) - t) * torch.exp(-s)
        return z.index_copy(-1, self.b, x_b), -s.sum(-1)

    def inverse(self, x):
        t, s = self.shift_and_log_scale(x.index_select(-1, self.a))
        z_b = torch.addcmul(t, x.index_select(-1, self.b), torch.exp(s))
        return x.index_copy(-1, self.b, z_b), s.sum(-1)


def alternating_masks(dim: int, layers: int) -> list[torch.Tensor]:
    """Even dimensions pass through in even layers, odd dimensions in odd layers.

    On the CPU whatever the default device: the couplings read them (nonzero) when built, also
    when a model is built on the meta device only to count its parameters (`limits`).
    """
    even = (torch.arange(dim, device="cpu") % 2 == 0).float()
    return [even if k % 2 == 0 else 1 - even for k in range(layers)]


@dataclass(frozen=True)
class RealNVPConfig(FlowConfig):
    layers: int = field(default=8, metadata={"min": 1, "max": 32, "help": "coupling layers"})
    hidden: int = field(default=64, metadata={"min": 4, "max": 1024, "help": "hidden width of s and t"})
    depth: int = field(default=2, metadata={"min": 1, "max": 6, "help": "hidden layers of s and t"})


class RealNVP(Flow):
    Config = RealNVPConfig

    def __init__(self, config: RealNVPConfig, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        self.transforms = nn.ModuleList(
            AffineCoupling(m, mlp(int(m.sum()), 2 * (dim - int(m.sum())), config.hidden, config.depth))
            for m in alternating_masks(dim, config.layers)
        )
