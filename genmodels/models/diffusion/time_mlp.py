"""An MLP on (x, t): the network of the diffusion family (velocity, noise or score prediction).

t in [0, 1] enters through sinusoidal features [t, sin(ω_k t), cos(ω_k t)] with frequencies ω_k
geometric from 1 to 10 (the Transformer's positional code, Vaswani et al. 2017, on a continuous
time, as DDPM's network takes it), concatenated to x. SiLU keeps the field smooth, which the
ODE solvers and the divergence in the likelihood need.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..nets import mlp

FREQUENCIES = 8
MAX_FREQUENCY = 10.0


def time_features(t: torch.Tensor) -> torch.Tensor:
    """(n,) times -> (n, 1 + 2 FREQUENCIES) features."""
    omega = torch.exp(torch.linspace(0.0, math.log(MAX_FREQUENCY), FREQUENCIES, device=t.device, dtype=t.dtype))
    angle = t[:, None] * omega
    return torch.cat([t[:, None], torch.sin(angle), torch.cos(angle)], 1)


class TimeMLP(nn.Module):
    """f(x, t): x (n, d) and t (n,) or a scalar -> (n, d_out)."""

    def __init__(self, dim: int, d_out: int, hidden: int, depth: int):
        super().__init__()
        self.net = mlp(dim + 1 + 2 * FREQUENCIES, d_out, hidden, depth, nn.SiLU)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(len(x))
        return self.net(torch.cat([x, time_features(t)], 1))
