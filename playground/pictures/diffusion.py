"""Diffusion and energy pictures: samples vs data, trajectories from noise to data, and at a level along the
path's time the forward (noising) process's points with the reverse process's, the learned field as arrows
(`genmodels.models.diffusion.DiffusionModel.visuals`, which also scales the arrows), and the EBM's energy with
its Langevin chains."""

from __future__ import annotations

import numpy as np

from genmodels.data import Dataset
from genmodels.setup import Setup

from . import raster
from .common import DATA_COLOUR, MODEL_COLOUR, plane, samples_picture

PATH_COLOUR, CHAIN_COLOUR = "#c8c8c8", "#ffffff"  # trajectories on white, chains on the energy
CHAINS_DRAWN = 60  # of the N_PATHS chains, over the energy (more would hide it)
LOW_IS_BRIGHT = tuple(reversed(raster.VIRIDIS))  # low energy (likely) bright


def pictures(v: dict[str, np.ndarray], data: Dataset, setup: Setup) -> dict[str, bytes]:
    """Every picture these visuals have the arrays for, by name (the view's memo keys); those of one level
    at the data end (`data_end`, the level slider's default)."""
    if "samples" not in v or "grid_x" not in v:
        return {}
    k = data_end(v)
    builds = {"diffusion_samples": ("samples", lambda: samples_picture(v, data)),
              "diffusion_paths": ("paths", lambda: paths_picture(v)),
              "diffusion_energy": ("energy", lambda: energy_picture(v, k)),
              "diffusion_forward": ("forward", lambda: forward_picture(v, k)),
              "diffusion_field": ("arrow_tips", lambda: field_picture(v, k))}
    return {name: build() for name, (needs, build) in builds.items() if needs in v}


def data_end(v: dict[str, np.ndarray]) -> int:
    """The index of the path's last shown time, at the data end (0 is the noise end)."""
    return len(v["level_t"]) - 1


def paths_picture(v: dict[str, np.ndarray]) -> bytes:
    """Each sample's trajectory from noise to where it ends."""
    out = plane(v).lines(v["paths"].transpose(1, 0, 2), PATH_COLOUR)
    return out.points(v["paths"][-1], MODEL_COLOUR, 1).png()


def forward_picture(v: dict[str, np.ndarray], k: int) -> bytes:
    """q(x_t | x_0) of held-out points beside the reverse process's points at the same time."""
    return plane(v).points(v["forward"][k], DATA_COLOUR, 1).points(v["reverse"][k], MODEL_COLOUR, 1).png()


def field_picture(v: dict[str, np.ndarray], k: int) -> bytes:
    """The field's arrows (tips from the model's visuals) over the sampler's points at that level."""
    tips = v["arrow_tips"][min(k, len(v["arrow_tips"]) - 1)]
    return plane(v).points(v["reverse"][k], MODEL_COLOUR, 1).arrows(v["arrows_x"], tips).png()


def energy_picture(v: dict[str, np.ndarray], k: int) -> bytes:
    """E(x) on the grid with some Langevin chains up to the level's step, and every chain's point there."""
    out = plane(v).density(v["energy"], stops=LOW_IS_BRIGHT)
    out.lines(v["paths"].transpose(1, 0, 2)[:CHAINS_DRAWN, : chain_frame(v, k) + 1], CHAIN_COLOUR)
    return out.points(v["reverse"][k], MODEL_COLOUR, 1).png()


def chain_frame(v: dict[str, np.ndarray], k: int) -> int:
    """The last trajectory frame at or before level k's step (frames and levels thin the same chain)."""
    return int(np.searchsorted(v["path_t"], v["level_t"][k], side="right")) - 1
