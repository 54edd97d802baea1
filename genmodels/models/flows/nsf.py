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
    """Bin sizes (…, K) from a softmax with a floor, and the K+1 knot positions from −B to exactly B."""
    k = unnormalised.shape[-1]
    sizes = (MIN_BIN + (1 - MIN_BIN * k) * torch.softmax(unnormalised, -1)) * 2 * bound
    inner = torch.cumsum(sizes[..., :-1], -1) - bound
    positions = F.pad(F.pad(inner, (1, 0), value=-bound), (0, 1), value=bound)
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
    _, positions = knots(torch.stack((widths, heights)), bound)  # (2, …, K+1): x_k then y_k
    d = F.pad(MIN_DERIVATIVE + F.softplus(derivatives), (1, 1), value=1.0)
    inside = (x > -bound) & (x < bound)
    xc = x.clamp(-bound, bound)
    k = (xc[..., None] >= positions[int(inverse), ..., 1:-1]).sum(-1, keepdim=True)  # the bin of each input
    table = torch.cat((positions, d[None]))  # (3, …, K+1): x_k, y_k, δ_k
    ends = table.gather(-1, torch.cat((k, k + 1), -1).expand(3, *k.shape[:-1], 2))  # each bin's two ends
    (xk, yk, d0), (x1, y1, d1) = ends[..., 0], ends[..., 1]
    w, h = x1 - xk, y1 - yk
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
    """Dimensions where mask = 1 (x_a) pass through and set a rational-quadratic spline of each other one (x_b).

    `net` maps x_a (N, |a|) to the K widths, K heights and K−1 derivatives of each spline (N, |b|, 3K−1),
    as `AffineCoupling` does: no work on masked zeros, nor on splines that would be thrown away.
    """

    def __init__(self, mask: torch.Tensor, hidden: int, depth: int, bins: int, bound: float):
        super().__init__()
        self.register_buffer("a", mask.nonzero()[:, 0])
        self.register_buffer("b", (mask == 0).nonzero()[:, 0])
        self.bins, self.bound = bins, bound
        self.net = mlp(len(self.a), len(self.b) * (3 * bins - 1), hidden, depth)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        with torch.no_grad():  # uniform bins and unit interior derivatives: the identity
            self.net[-1].bias.view(len(self.b), 3 * bins - 1)[:, 2 * bins :].fill_(IDENTITY_DERIVATIVE)
        self._register_load_state_dict_pre_hook(self._from_masked_layout)

    def transform(self, v: torch.Tensor, inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        params = self.net(v.index_select(-1, self.a)).unflatten(-1, (len(self.b), 3 * self.bins - 1))
        widths, heights, derivatives = params.split([self.bins, self.bins, self.bins - 1], -1)
        y, log_det = rational_quadratic(v.index_select(-1, self.b), widths, heights, derivatives.contiguous(),
                                        self.bound, inverse)
        return v.index_copy(-1, self.b, y), log_det.sum(-1)

    def _from_masked_layout(self, state: dict, prefix: str, *_) -> None:
        """Weights saved when the net saw v·mask and set a spline of every dimension: its columns for x_b
        multiplied zeros and its rows for x_a were thrown away, so keeping the others is exact."""
        mask = state.pop(f"{prefix}mask", None)
        if mask is None:
            return
        a, b = mask.nonzero()[:, 0], (mask == 0).nonzero()[:, 0]
        state[f"{prefix}a"], state[f"{prefix}b"] = a, b
        first, last = f"{prefix}net.0.weight", f"{prefix}net.{len(self.net) - 1}."
        state[first] = state[first][:, a]
        for name in ("weight", "bias"):
            state[last + name] = state[last + name].unflatten(0, (-1, 3 * self.bins - 1))[b].flatten(0, 1)

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
