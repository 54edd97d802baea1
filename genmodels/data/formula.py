"""Points drawn from a density typed as an energy: p(x) ∝ exp(-U(x)), U parsed by `genmodels.data.energy`.

The same expressions (and U1-U4) as a flow's reverse-KL target; here they become a
dataset that any model can be trained on.
"""

from __future__ import annotations

import numpy as np
import torch

from .dataset import Dataset
from .energy import BOX, QUADRATURE_MARGIN, box_axes, mesh, target

CELLS = 400  # per axis, over the box and its margin: cells 0.0275 wide
PREFIX = "energy:"  # a dataset name 'energy:<U>' (a share URL's data=energy:x1**2+x2**2) is sampled from exp(-U)
N_TRAIN, N_TEST = 20_000, 2_000


def sample_energy(spec: str, n: int, seed: int = 0) -> np.ndarray:
    """n points from p ∝ exp(-U - wall) (the target of `Target(spec)`; a bad expression is a UserError).

    The energy is checked once (`genmodels.energy.target`, cached): at most 300 characters, a
    bounded expression, finite and integrable on the box. Exact sampling of the piecewise-constant
    density equal to p at the centres of a CELLS × CELLS grid: a cell with probability ∝ p(centre),
    then a uniform point inside it.
    """
    edges = box_axes(CELLS + 1, QUADRATURE_MARGIN, torch.float64)
    centres = (edges[1:] + edges[:-1]) / 2
    with torch.no_grad():
        log_p = -target(spec).energy(mesh(centres))
    p = torch.softmax(log_p, 0).numpy()
    rng = np.random.default_rng(seed)
    cells = rng.choice(len(p), size=n, p=p / p.sum())
    width = 2 * (BOX + QUADRATURE_MARGIN) / CELLS
    return mesh(centres).numpy()[cells] + width * (rng.random((n, 2)) - 0.5)


def energy_dataset(spec: str, seed: int) -> Dataset:
    """The dataset named PREFIX + spec: N_TRAIN + N_TEST points of p ∝ exp(-U), drawn from `seed`, not rescaled
    (the energy's own coordinates)."""
    x = sample_energy(spec, N_TRAIN + N_TEST, seed).astype(np.float32)
    return Dataset(PREFIX + spec, "dataset-2d", x[:N_TRAIN], x[N_TRAIN:], (2,))
