"""Points drawn from a density typed as an energy: p(x) ∝ exp(-U(x)), U parsed by `genmodels.data.energy`.

The same expressions (and U1-U4) as a flow's reverse-KL target; here they become a
dataset that any model can be trained on.
"""

from __future__ import annotations

import numpy as np
import torch

from .energy import BOX, QUADRATURE_MARGIN, Target, box_axes, mesh

CELLS = 400  # per axis, over the box and its margin: cells 0.0275 wide


def sample_energy(spec: str, n: int, seed: int = 0) -> np.ndarray:
    """n points from p ∝ exp(-U - wall) (the target of `Target(spec)`; a bad expression is a UserError).

    Exact sampling of the piecewise-constant density equal to p at the centres of a
    CELLS × CELLS grid: a cell with probability ∝ p(centre), then a uniform point inside it.
    """
    target = Target(spec)
    edges = box_axes(CELLS + 1, QUADRATURE_MARGIN, torch.float64)
    centres = (edges[1:] + edges[:-1]) / 2
    with torch.no_grad():
        log_p = -target.energy(mesh(centres))
    p = torch.softmax(log_p, 0).numpy()
    rng = np.random.default_rng(seed)
    cells = rng.choice(len(p), size=n, p=p / p.sum())
    width = 2 * (BOX + QUADRATURE_MARGIN) / CELLS
    return mesh(centres).numpy()[cells] + width * (rng.random((n, 2)) - 0.5)
