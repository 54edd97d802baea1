"""Vectorised root of an increasing scalar equation f(v) = t, with the implicit-function gradient.

The inverses of planar and Sylvester layers reduce to equations v + r tanh(r̃ v + c) = t
that are strictly increasing in v (their invertibility condition), one per sample.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

TOLERANCE = 1e-6
MAX_ITERATIONS = 100

Equation = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def solve_increasing(f: Equation, t: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """The root v in [lo, hi] of f(v) = t, element-wise; f returns (f(v), f'(v)) with f' > 0.

    Safeguarded Newton: a Newton step that leaves the bracket is replaced by bisection, and
    the bracket shrinks on the sign of f(v) - t, until the step is below 1e-6 (1 + |v|).
    The iterations run without autograd; the returned root keeps its value but carries the
    implicit-function gradient dv = (dt - ∂f) / f'(v), so gradients flow through the inverse.
    """
    with torch.no_grad():
        lo, hi, target = lo.detach().clone(), hi.detach().clone(), t.detach()
        v = (lo + hi) / 2
        for _ in range(MAX_ITERATIONS):
            fv, dfv = f(v)
            residual = fv - target
            lo = torch.where(residual < 0, v, lo)
            hi = torch.where(residual > 0, v, hi)
            newton = v - residual / dfv
            v_next = torch.where((newton > lo) & (newton < hi), newton, (lo + hi) / 2)
            done = bool(((v_next - v).abs() <= TOLERANCE * (1 + v.abs())).all())
            v = v_next
            if done:
                break
    fv, dfv = f(v)
    residual = fv - t
    return v - (residual - residual.detach()) / dfv.detach()
