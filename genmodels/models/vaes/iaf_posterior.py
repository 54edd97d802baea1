"""The IAF posterior of IAF-VAE (Kingma et al. 2016; course notes, "Inverse Autoregressive Flow VAE").

    z_0 = μ(x) + σ(x) ⊙ ε,  z_t = g_t(z_{t-1}; h(x))  (t = 1..T),
    log q(z_T|x) = log N(z_0; μ, σ²) - Σ_t log |det ∂z_t/∂z_{t-1}|,

with g_t the gated autoregressive layer of made.py, conditioned on the encoder's context h(x),
the order of the latent dimensions reversed between layers. Sampling and log q at one's own
samples take one MADE pass per layer; log q at an arbitrary z needs the inverse (p passes).
"""

from __future__ import annotations

import torch
from torch import nn

from ..flows.made import GatedAutoregressive
from ..flows.maf import reversing_orders


class IAFPosterior(nn.Module):
    def __init__(self, latent: int, layers: int, hidden: int, context: int):
        super().__init__()
        self.layers = nn.ModuleList(
            GatedAutoregressive(order, hidden, context=context) for order in reversing_orders(latent, layers)
        )

    def forward(self, z: torch.Tensor, h: torch.Tensor, inverse: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """z_T and Σ_t log |det ∂z_t/∂z_{t-1}| from z_0 (rows (N, p), context (N, c)); with inverse=True,
        z_0 and Σ_t log |det ∂z_{t-1}/∂z_t| from z_T."""
        log_det = z.new_zeros(z.shape[0])
        for layer in reversed(self.layers) if inverse else self.layers:
            z, ld = layer.inverse(z, h) if inverse else layer(z, h)
            log_det = log_det + ld
        return z, log_det

    def stopped_inverse(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The inverse with every parameter (and h) treated as a constant: gradients flow through z only."""
        params = {name: p.detach() for name, p in self.named_parameters()}
        return torch.func.functional_call(self, params, (z, h.detach()), {"inverse": True})
