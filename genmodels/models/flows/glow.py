"""Glow (Kingma & Dhariwal 2018; course notes, "Generative Flow (GLOW)").

One step of flow, from the data towards the base: ActNorm → invertible 1x1 convolution →
affine coupling (the coupling of realnvp.py, with a CNN for images). On 2D data Glow is a
stack of steps whose "1x1 convolution" is an invertible 2×2 linear map.

On images the multi-scale architecture of RealNVP/Glow: each scale squeezes (C, H, W) into
(4C, H/2, W/2), runs `layers` steps, then splits: half of the channels are factored out as
that scale's latent z (under the N(0, I) base) and the other half go on to the next scale;
the last scale keeps everything. Rows are flat and channel-major, so "the channels that go on"
are simply the first half of the row (`Prefix`). `visuals` adds the latent of one held-out
image at each scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ...errors import UserError
from ..nets import mlp
from .actnorm import ActNorm, channel_shape
from .flow import Flow, FlowConfig, Transform, init_from_data, run_forward, run_inverse
from .inv1x1 import InvertibleConv1x1
from .realnvp import AffineCoupling


class Squeeze(Transform):
    """Space-to-depth, (C, H, W) ↔ (4C, H/2, W/2), towards the base; a permutation, so log |det| = 0."""

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        self.shape = shape

    def inverse(self, x):
        c, h, w = self.shape
        x = x.view(-1, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
        return x.reshape(x.shape[0], -1), x.new_zeros(x.shape[0])

    def forward(self, z):
        c, h, w = self.shape
        z = z.view(-1, c, 2, 2, h // 2, w // 2).permute(0, 1, 4, 2, 5, 3)
        return z.reshape(z.shape[0], -1), z.new_zeros(z.shape[0])


class Prefix(Transform):
    """`transforms` (listed from the base side) act on the first n coordinates; the rest pass through."""

    def __init__(self, transforms: list[Transform], n: int):
        super().__init__()
        self.transforms, self.n = nn.ModuleList(transforms), n

    def forward(self, z):
        x, log_det = run_forward(self.transforms, z[:, : self.n])
        return torch.cat([x, z[:, self.n :]], 1), log_det

    def inverse(self, x):
        z, log_det = run_inverse(self.transforms, x[:, : self.n])
        return torch.cat([z, x[:, self.n :]], 1), log_det

    def init_from_data(self, x: torch.Tensor) -> None:
        init_from_data(self.transforms, x[:, : self.n])


def coupling_net(shape: tuple[int, ...], hidden: int, depth: int) -> nn.Module:
    """The first C//2 channels x_a → s, t for the other C - C//2, flat rows in and out.

    An MLP for vectors; for images 3x3 conv, depth−1 1x1 convs, 3x3 conv.
    """
    c, h, w = channel_shape(shape)
    c_a, c_b = c // 2, c - c // 2
    if len(shape) == 1:
        return mlp(c_a, 2 * c_b, hidden, depth)
    layers: list[nn.Module] = [nn.Unflatten(1, (c_a, h, w)), nn.Conv2d(c_a, hidden, 3, padding=1), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Conv2d(hidden, hidden, 1), nn.ReLU()]
    return nn.Sequential(*layers, nn.Conv2d(hidden, 2 * c_b, 3, padding=1), nn.Flatten())


def glow_step(shape: tuple[int, ...], hidden: int, depth: int) -> list[Transform]:
    """ActNorm, 1x1 convolution, coupling: listed from the base side (the reverse of the data's path)."""
    c, h, w = channel_shape(shape)
    mask = torch.cat([torch.ones(c // 2 * h * w, device="cpu"), torch.zeros((c - c // 2) * h * w, device="cpu")])
    return [AffineCoupling(mask, coupling_net(shape, hidden, depth)), InvertibleConv1x1(shape), ActNorm(shape)]


@dataclass(frozen=True)
class GlowConfig(FlowConfig):
    layers: int = field(default=8, metadata={"min": 1, "max": 32, "help": "steps of flow (per scale on images)"})
    hidden: int = field(default=64, metadata={"min": 4, "max": 512, "help": "coupling width (channels on images)"})
    depth: int = field(default=2, metadata={"min": 1, "max": 6, "help": "hidden layers of the coupling nets"})
    scales: int = field(default=2, metadata={"min": 1, "max": 4, "help": "images: squeeze-steps-split levels"})


class Glow(Flow):
    Config = GlowConfig

    def __init__(self, config: GlowConfig, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        self.latent_shapes: list[tuple[int, int, int]] = []  # each scale's factored-out z, outermost first
        if len(self.shape) == 3:
            check_squeezable(self.shape, config.scales)
            self.transforms = nn.ModuleList(self.scale(tuple(self.shape), config.scales))
            self.register_buffer("x_probe", torch.zeros(1, dim))
        else:
            steps = [glow_step((dim,), config.hidden, config.depth) for _ in range(config.layers)]
            self.transforms = nn.ModuleList(t for step in reversed(steps) for t in step)

    def scale(self, shape: tuple[int, int, int], scales: int) -> list[Transform]:
        """Squeeze, steps, then (unless last) hand the first half of the channels to the next scale."""
        c, h, w = shape
        squeezed = (4 * c, h // 2, w // 2)
        steps = [glow_step(squeezed, self.config.hidden, self.config.depth) for _ in range(self.config.layers)]
        from_base = [t for step in reversed(steps) for t in step] + [Squeeze(shape)]
        if scales == 1:
            self.latent_shapes.append(squeezed)
            return from_base
        kept = (2 * c, h // 2, w // 2)
        self.latent_shapes.append(kept)
        return [Prefix(self.scale(kept, scales - 1), math.prod(kept)), *from_base]

    def set_probe(self, x: torch.Tensor) -> None:
        """Keep the first held-out image: `visuals` shows its latent at each scale."""
        if len(self.shape) == 3:
            self.x_probe.copy_(x[:1])

    def latents(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each scale's latent z of one row x, outermost scale first, as (c, h, w) arrays."""
        z, _ = self.to_base(self.dequantise(x))
        out, end = [], self.dim
        for c, h, w in self.latent_shapes[:-1]:
            start = end - c * h * w
            out.append(z[0, start:end].view(c, h, w))
            end = start
        return [*out, z[0, :end].view(self.latent_shapes[-1])]

    @torch.no_grad()
    def visuals(self, grid: torch.Tensor | None) -> dict[str, np.ndarray]:
        out = super().visuals(grid)
        if len(self.shape) == 3:
            out["latent_image"] = self.x_probe.view(self.shape[-2:]).cpu().numpy()  # the first held-out image
            for k, z in enumerate(self.latents(self.x_probe)):
                out[f"latent_{k}"] = z.cpu().numpy()
        return out


def check_squeezable(shape: tuple[int, ...], scales: int) -> None:
    _, h, w = shape
    factor = 2**scales
    if h % factor or w % factor:
        most = min((n & -n).bit_length() - 1 for n in (h, w))
        raise UserError(
            f"{h}x{w} images can be squeezed at most {most} times (each squeeze halves the side); "
            f"set scales to at most {most}"
        )
