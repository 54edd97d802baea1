"""Neural spline flow: rational-quadratic spline couplings (Durkan et al. 2019, "Neural Spline Flows").

Not in the course notes; here for comparison, as the strongest of these flows on the 2D sets.
Each coupling keeps the dimensions where mask = 1 and maps every other dimension through a
monotone rational-quadratic spline whose K bins (widths, heights) and K−1 interior knot
derivatives come from a network of the kept dimensions. Outside [−B, B] the map is the
identity (linear tails), so the knot derivatives at ±B are 1 and the map is C¹ everywhere.

In bin k, with knots (x_k, y_k), bin sizes w_k, h_k, slope s_k = h_k/w_k, knot derivatives
δ_k, δ_{k+1} and ξ = (x − x_k)/w_k ∈ [0, 1] (Durkan et al., eq. 4 and appendix A):
    y = y_k + h_k [s_k ξ² + δ_k ξ(1−ξ)] / [s_k + (δ_{k+1} + δ_k − 2s_k) ξ(1−ξ)],
    dy/dx = s_k² [δ_{k+1} ξ² + 2s_k ξ(1−ξ) + δ_k (1−ξ)²] / [s_k + (δ_{k+1} + δ_k − 2s_k) ξ(1−ξ)]²,
and the inverse solves a ξ² + b ξ + c = 0 for the root in [0, 1]: ξ = 2c / (−b − √(b² − 4ac)) with
    a = h_k (s_k − δ_k) + (y − y_k) Δ,  b = h_k δ_k − (y − y_k) Δ,  c = −s_k (y − y_k),
    Δ = δ_{k+1} + δ_k − 2s_k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..nets import mlp
from .flow import Flow, FlowConfig, Transform
from .realnvp import alternating_masks

MIN_BIN = 1e-3  # smallest bin width and height, as a fraction of 2B
MIN_DERIVATIVE = 1e-3
IDENTITY_DERIVATIVE = math.log(math.expm1(1 - MIN_DERIVATIVE))  # softplus⁻¹(1 − MIN_DERIVATIVE): δ = 1


def knots(unnormalised: torch.Tensor, bound: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Bin sizes (…, K) from a softmax with a floor, and the K+1 knot positions from −B to B."""
    k = unnormalised.shape[-1]
    sizes = (MIN_BIN + (1 - MIN_BIN * k) * torch.softmax(unnormalised, -1)) * 2 * bound
    positions = F.pad(torch.cumsum(sizes, -1), (1, 0)) - bound
    positions = torch.cat([positions[..., :-1], torch.full_like(positions[..., -1:], bound)], -1)  # exactly B
    return positions[..., 1:] - positions[..., :-1], positions


def rational_quadratic(
    x: torch.Tensor,
    widths: torch.Tensor,
    heights: torch.Tensor,
    derivatives: torch.Tensor,
    bound: float,
    inverse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The spline of the module docstring (or its inverse) elementwise, with log |dy/dx| (or log |dx/dy|).

    x: (…,); widths, heights: (…, K) unnormalised; derivatives: (…, K−1) unnormalised.
    """
    w, xk = knots(widths, bound)
    h, yk = knots(heights, bound)
    d = F.pad(MIN_DERIVATIVE + F.softplus(derivatives), (1, 1), value=1.0)
    inside = (x > -bound) & (x < bound)
    xc = x.clamp(-bound, bound)
    edges = yk if inverse else xk
    k = (xc[..., None] >= edges[..., 1:-1]).sum(-1, keepdim=True)  # the bin of each input
    xk, w, yk, h = (v.gather(-1, k)[..., 0] for v in (xk, w, yk, h))
    d0, d1 = d.gather(-1, k)[..., 0], d.gather(-1, k + 1)[..., 0]
    s = h / w
    delta = d1 + d0 - 2 * s
    if inverse:
        dy = xc - yk
        a = h * (s - d0) + dy * delta
        b = h * d0 - dy * delta
        c = -s * dy
        xi = (2 * c / (-b - (b**2 - 4 * a * c).clamp_min(0).sqrt())).clamp(0, 1)
        y = xk + xi * w
    else:
        xi = (xc - xk) / w
        y = yk + h * (s * xi**2 + d0 * xi * (1 - xi)) / (s + delta * xi * (1 - xi))
    one_minus = xi * (1 - xi)
    log_slope = (
        2 * s.log() + (d1 * xi**2 + 2 * s * one_minus + d0 * (1 - xi) ** 2).log() - 2 * (s + delta * one_minus).log()
    )
    log_det = -log_slope if inverse else log_slope
    return torch.where(inside, y, x), torch.where(inside, log_det, torch.zeros_like(log_det))


class SplineCoupling(Transform):
    """Dimensions where mask = 1 pass through and set a rational-quadratic spline of each other dimension."""

    def __init__(self, mask: torch.Tensor, hidden: int, depth: int, bins: int, bound: float):
        super().__init__()
        dim = mask.numel()
        self.register_buffer("mask", mask)
        self.bins, self.bound = bins, bound
        self.net = mlp(dim, dim * (3 * bins - 1), hidden, depth)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        with torch.no_grad():  # uniform bins and unit interior derivatives: the identity
            self.net[-1].bias.view(dim, 3 * bins - 1)[:, 2 * bins :].fill_(IDENTITY_DERIVATIVE)

    def transform(self, v: torch.Tensor, inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        params = self.net(v * self.mask).view(*v.shape, 3 * self.bins - 1)
        widths, heights, derivatives = params.split([self.bins, self.bins, self.bins - 1], -1)
        y, log_det = rational_quadratic(v, widths, heights, derivatives, self.bound, inverse)
        free = 1 - self.mask
        return v * self.mask + y * free, (log_det * free).sum(-1)

    def forward(self, z):
        return self.transform(z, inverse=False)

    def inverse(self, x):
        return self.transform(x, inverse=True)


@dataclass(frozen=True)
class NSFConfig(FlowConfig):
    layers: int = field(default=6, metadata={"min": 1, "max": 32, "help": "spline coupling layers"})
    hidden: int = field(default=128, metadata={"min": 4, "max": 1024, "help": "hidden width of the spline nets"})
    depth: int = field(default=2, metadata={"min": 1, "max": 6, "help": "hidden layers of the spline nets"})
    bins: int = field(default=8, metadata={"min": 2, "max": 64, "help": "spline bins K"})
    bound: float = field(default=5.0, metadata={"min": 0.5, "max": 50.0, "help": "spline on [−B, B], identity outside"})


class NSF(Flow):
    Config = NSFConfig

    def __init__(self, config: NSFConfig, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        self.transforms = nn.ModuleList(
            SplineCoupling(m, config.hidden, config.depth, config.bins, config.bound)
            for m in alternating_masks(dim, config.layers)
        )
