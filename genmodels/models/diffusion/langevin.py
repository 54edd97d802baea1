"""Unadjusted Langevin dynamics, shared by the score model's annealed sampler and the EBM's chains.

For a target p with score s = ∇ log p (for an energy model s = -∇E), a step of size η is
    x ← x + (η/2) s(x) + √η z,   z ~ N(0, I)
(Welling & Teh 2011; Song & Ermon 2019, eq. 4), whose chain approaches p as η → 0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Score = Callable[[torch.Tensor], torch.Tensor]


def langevin_step(score: Score, x: torch.Tensor, eta: float, generator: torch.Generator | None) -> torch.Tensor:
    z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + eta / 2 * score(x) + eta**0.5 * z


def langevin(score: Score, x: torch.Tensor, eta: float, steps: int, generator: torch.Generator | None
             ) -> torch.Tensor:
    """The chain's states after 0..steps steps: (steps + 1, n, d)."""
    states = [x]
    for _ in range(steps):
        states.append(langevin_step(score, states[-1], eta, generator))
    return torch.stack(states)
