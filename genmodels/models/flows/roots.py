"""Vectorised root of an increasing scalar equation f(v) = t, with the implicit-function gradient.

The inverses of planar and Sylvester layers reduce to equations v + r tanh(r̃ v + c) = t
that are strictly increasing in v (their invertibility condition), one per sample.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

TOLERANCE = {torch.float16: 1e-3, torch.bfloat16: 1e-2, torch.float32: 1e-6, torch.float64: 1e-12}
MAX_ITERATIONS = 100

Equation = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def solve_increasing(f: Equation, t: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """The root v in [lo, hi] of f(v) = t, element-wise; f returns (f(v), f'(v)) with f' > 0.

    Safeguarded Newton: a Newton step that leaves the bracket is replaced by bisection, and
    the bracket shrinks on the sign of f(v) - t, until the step is below tol (1 + |v|), with
    tol = 1e-6 in float32 (a few ulps) and 1e-12 in float64.
    The iterations run without autograd; the returned root keeps its value but carries the
    implicit-function gradient dv = (dt - ∂f) / f'(v), so gradients flow through the inverse.
    """
    with torch.no_grad():
        lo, hi, target = lo.detach().clone(), hi.detach().clone(), t.detach()
        v, tol = (lo + hi) / 2, TOLERANCE[t.dtype]
        for _ in range(MAX_ITERATIONS):
            fv, dfv = f(v)
            residual = fv - target
            lo = torch.where(residual < 0, v, lo)
            hi = torch.where(residual > 0, v, hi)
            newton = v - residual / dfv
            v_next = torch.where((newton > lo) & (newton < hi), newton, (lo + hi) / 2)
            done = bool(((v_next - v).abs() <= tol * (1 + v.abs())).all())
            v = v_next
            if done:
                break
    fv, dfv = f(v)
    residual = fv - t
    return v - (residual - residual.detach()) / dfv.detach()
