"""IAF: inverse autoregressive flow (Kingma et al. 2016) with the notes' gated layer.

The mirror image of MAF (maf.py): each gated autoregressive map g runs in the sampling
direction, x = g(z) with σ, m computed from z_{<i}, so sampling costs one MADE pass per layer
and log p(x) needs D sequential passes. This is the direction that suits reverse KL and a
VAE posterior (q(z|x) is sampled, and its log-density is needed only at its own samples).
"""

from __future__ import annotations

from dataclasses import dataclass

from .flow import Transform
from .made import GatedAutoregressive
from .maf import MAF, MAFConfig


@dataclass(frozen=True)
class IAFConfig(MAFConfig):
    pass


class IAF(MAF):
    """Sampling direction fast: one pass per layer; log p(x) needs D passes per layer."""

    Config = IAFConfig

    @staticmethod
    def layer(g: GatedAutoregressive) -> Transform:
        """IAF: g maps the base towards the data, so the Transform is g itself."""
        return g
