"""MAF: masked autoregressive flow (Papamakarios et al. 2017) with the notes' gated layer.

Each layer is an ActNorm followed by a gated autoregressive map g (made.py) that runs in the
density direction: z = g(x) with σ, m computed from x_{<i}, so log p(x) costs one MADE pass per
layer, while sampling x = g^{-1}(z) needs D sequential passes. The order of the dimensions is
reversed between layers (course notes, "The autoregressive layer").

The gate σ ∈ (0, 1) can only contract (|∂z_i/∂x_i| = σ_i < 1), so the ActNorm before each
gated layer supplies the learnable per-dimension expansion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .actnorm import ActNorm
from .flow import Flow, FlowConfig, Inverse, Transform
from .made import GatedAutoregressive


def reversing_orders(dim: int, layers: int) -> list[torch.Tensor]:
    """0, 1, ..., D−1 in even layers and its reverse in odd ones."""
    order = torch.arange(dim)
    return [order if k % 2 == 0 else order.flip(0) for k in range(layers)]


@dataclass(frozen=True)
class MAFConfig(FlowConfig):
    layers: int = field(default=8, metadata={"min": 1, "max": 32, "help": "autoregressive layers"})
    hidden: int = field(default=128, metadata={"min": 4, "max": 1024, "help": "hidden width of each MADE"})
    depth: int = field(default=2, metadata={"min": 1, "max": 6, "help": "hidden layers of each MADE"})


class MAF(Flow):
    """Density direction fast: log p(x) in one pass per layer, sampling in D passes per layer."""

    Config = MAFConfig

    def __init__(self, config: MAFConfig, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        self.transforms = nn.ModuleList()
        for order in reversing_orders(dim, config.layers):
            self.transforms.append(ActNorm((dim,)))
            self.transforms.append(self.layer(GatedAutoregressive(order, config.hidden, config.depth)))

    @staticmethod
    def layer(g: GatedAutoregressive) -> Transform:
        """MAF: g maps data towards the base, so the Transform is g^{-1}."""
        return Inverse(g)
