"""ActNorm: a per-channel affine layer with data-dependent initialisation (Glow, Kingma & Dhariwal 2018, Table 1).

    x = z ⊙ exp(log_scale) + shift  (one scale and shift per channel, shared over the H·W positions),
    z = (x − shift) ⊙ exp(−log_scale),   log |det ∂z/∂x| = −H·W·Σ_c log_scale_c.
`init_from_data(x)` sets shift and log_scale to the per-channel mean and log standard deviation
of x, so the layer's output starts with zero mean and unit variance.
"""

from __future__ import annotations

import torch
from torch import nn

from .flow import Transform


def channel_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(C, H, W) of an image, or (D, 1, 1) for a D-vector: a vector is D channels of one pixel."""
    return tuple(shape) if len(shape) == 3 else (shape[0], 1, 1)


class ActNorm(Transform):
    """Works on flat (N, C·H·W) rows of `shape` = (C, H, W) or (D,)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        c, h, w = channel_shape(shape)
        self.channels, self.positions = c, h * w
        self.shift = nn.Parameter(torch.zeros(c))
        self.log_scale = nn.Parameter(torch.zeros(c))

    def _per_channel(self, v: torch.Tensor) -> torch.Tensor:
        return v.view(-1, self.channels, self.positions)

    def forward(self, z):
        x = self._per_channel(z) * self.log_scale.exp()[:, None] + self.shift[:, None]
        return x.reshape(z.shape), (self.positions * self.log_scale.sum()).expand(z.shape[0])

    def inverse(self, x):
        z = (self._per_channel(x) - self.shift[:, None]) * (-self.log_scale).exp()[:, None]
        return z.reshape(x.shape), (-self.positions * self.log_scale.sum()).expand(x.shape[0])

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        per_channel = self._per_channel(x).transpose(0, 1).reshape(self.channels, -1)
        self.shift.copy_(per_channel.mean(1))
        self.log_scale.copy_(per_channel.std(1).clamp_min(1e-6).log())
