"""Independent checks shared by the flow tests: autograd Jacobians and grid integrals."""

from __future__ import annotations

import torch


def autograd_log_det(f, x: torch.Tensor) -> torch.Tensor:
    """log |det ∂f(x)/∂x| per row, from the full autograd Jacobian of f: (1, D) → ((1, D), ...)."""
    return torch.stack(
        [torch.linalg.slogdet(torch.autograd.functional.jacobian(lambda v: f(v[None])[0][0], row))[1] for row in x]
    )


@torch.no_grad()
def randomise(module: torch.nn.Module, scale: float, seed: int = 0) -> torch.nn.Module:
    """Add N(0, scale²) noise to every parameter, so that zero-initialised (identity) layers are not trivial."""
    g = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


@torch.no_grad()
def grid_integral(log_prob, half_width: float = 10.0, points: int = 400) -> float:
    """∫ exp(log p) over the square [−w, w]² by the midpoint rule (float64)."""
    step = 2 * half_width / points
    ticks = torch.arange(points, dtype=torch.float64) * step - half_width + step / 2
    grid = torch.stack(torch.meshgrid(ticks, ticks, indexing="ij"), -1).reshape(-1, 2)
    density = torch.cat([log_prob(b).exp() for b in grid.split(20_000)])
    return float(density.sum() * step**2)
