"""Helpers for the transform tests: autograd log-dets and perturbed (non-identity) parameters."""

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
