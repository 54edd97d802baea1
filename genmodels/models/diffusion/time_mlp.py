"""An MLP on (x, t): the network of the diffusion family (velocity, noise or score prediction).

t in [0, 1] enters through sinusoidal features [t, sin(ω_k t), cos(ω_k t)] with frequencies ω_k
geometric from 1 to 10 (the Transformer's positional code, Vaswani et al. 2017, on a continuous
time, as DDPM's network takes it), concatenated to x. With `x_frequencies` = K > 0, x enters the
same way, [x, sin(ω_j x), cos(ω_j x)] per coordinate with ω_j = 2^j / 2, j < K (Fourier features,
Tancik et al. 2020; tiny-diffusion's input embedding): an MLP's smooth bias then no longer blurs
sharp edges such as a checkerboard's. SiLU keeps the field smooth, which the ODE solvers and the
divergence in the likelihood need.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..nets import mlp

FREQUENCIES = 8
MAX_FREQUENCY = 10.0


def sinusoids(u: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """(n, d) values, (k,) frequencies -> (n, d + 2 d k): [u, sin(ω u), cos(ω u)]."""
    angle = (u[:, :, None] * omega).flatten(1)
    return torch.cat([u, torch.sin(angle), torch.cos(angle)], 1)


def time_features(t: torch.Tensor) -> torch.Tensor:
    """(n,) times -> (n, 1 + 2 FREQUENCIES) features."""
    omega = torch.exp(torch.linspace(0.0, math.log(MAX_FREQUENCY), FREQUENCIES, device=t.device, dtype=t.dtype))
    return sinusoids(t[:, None], omega)


class TimeMLP(nn.Module):
    """f(x, t): x (n, d) and t (n,) or a scalar -> (n, d_out)."""

    def __init__(self, dim: int, d_out: int, hidden: int, depth: int, x_frequencies: int = 0):
        super().__init__()
        # not saved (persistent=False): weights saved without the option still load; it follows .to() and .double()
        self.register_buffer("omega", 2.0 ** torch.arange(x_frequencies) / 2, persistent=False)
        self.net = mlp(dim * (1 + 2 * x_frequencies) + 1 + 2 * FREQUENCIES, d_out, hidden, depth, nn.SiLU)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(len(x))
        features = sinusoids(x, self.omega) if len(self.omega) else x  # none: no ops spent on empty tensors
        return self.net(torch.cat([features, time_features(t)], 1))
