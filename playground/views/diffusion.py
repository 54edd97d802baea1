"""Diffusion and energy views: samples vs data, trajectories from noise to data, and with a slider over the
path's time the forward (noising) process beside the reverse process, and the learned field as arrows; the
EBM's energy as a heatmap with its chains on it.

Everything drawn comes from `snap.visuals` (see `genmodels.models.diffusion.DiffusionModel.visuals`, which
also scales the arrows), as `raster.Plane` pictures on the trainer's grid: fixed axes, no WebGL.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from genmodels.data import Dataset
from genmodels.models import MODELS
from genmodels.setup import Setup
from genmodels.training.snapshot import Snapshot

from .. import memo
from ..memo import Picture
from ..pictures import common, raster
from ..pictures.raster import Plane

PATH_COLOUR, CHAIN_COLOUR = "#c8c8c8", "#ffffff"  # trajectories on white, chains on the energy
CHAINS_DRAWN = 60  # of the N_PATHS chains, over the energy (more would hide it)
LOW_IS_BRIGHT = tuple(reversed(raster.VIRIDIS))  # low energy (likely) bright


def draw(snap: Snapshot, data: Dataset, setup: Setup) -> None:
    v, step = snap.visuals, snap.visuals_step
    if "samples" not in v or "grid_x" not in v:
        return
    model = MODELS[setup.model]
    memo.row(st, v, [
        Picture("diffusion_samples", lambda: common.samples_vs_data(v["samples"], data.test, v).png(),
                "samples (red) vs data (blue)"),
        Picture("diffusion_paths", lambda: paths_picture(v).png(),
                f"{v['paths'].shape[1]} trajectories from noise to data (grey), where they end (red)")], step)
    k = level_slider(v, model.time_label)
    at = f"{model.time_label} = {v['level_t'][k]:.3g}"
    if "energy" in v:
        left = Picture(("diffusion_energy", k), lambda: energy_picture(v, k).png(),
                       f"energy E(x), Langevin chains at {at} (white), their points there (red); bright: low E")
    elif "forward" in v:
        left = Picture(("diffusion_forward", k), lambda: forward_picture(v, k).png(),
                       f"{at}: noised data (blue) by q(x_t | x_0), the sampler's points (red)")
    else:
        left = None
    right = Picture(("diffusion_field", k), lambda: field_picture(v, k).png(),
                    f"learned {model.field_label} at {field_time(v, k, model.time_label)} (arrows), "
                    "the sampler's points (red)") if "arrow_tips" in v else None
    memo.row(st, v, [left, right], step)


def level_slider(v: dict[str, np.ndarray], label: str) -> int:
    """An index over the path's shown times, from the noise end (0) to the data end."""
    t = v["level_t"]
    key = "diffusion_level"
    st.session_state[key] = min(st.session_state.get(key, len(t) - 1), len(t) - 1)
    k = st.slider(f"along the path, noise (0) → data ({len(t) - 1})", 0, len(t) - 1, key=key)
    st.caption(f"{label} = {t[k]:.3g}")
    return k


def field_time(v: dict[str, np.ndarray], k: int, label: str) -> str:
    """The field's own time: one level for every slider position where it does not depend on time (EBM)."""
    return "every step" if len(v["arrow_tips"]) == 1 else f"{label} = {v['level_t'][k]:.3g}"


def paths_picture(v: dict[str, np.ndarray]) -> Plane:
    """Each sample's trajectory from noise to where it ends."""
    out = common.plane(v).lines(v["paths"].transpose(1, 0, 2), PATH_COLOUR)
    return out.points(v["paths"][-1], common.MODEL_COLOUR, 1)


def forward_picture(v: dict[str, np.ndarray], k: int) -> Plane:
    """q(x_t | x_0) of held-out points beside the reverse process's points at the same time."""
    return common.plane(v).points(v["forward"][k], common.DATA_COLOUR, 1).points(v["reverse"][k],
                                                                                    common.MODEL_COLOUR, 1)


def field_picture(v: dict[str, np.ndarray], k: int) -> Plane:
    """The field's arrows (tips from the model's visuals) over the sampler's points at that level."""
    tips = v["arrow_tips"][min(k, len(v["arrow_tips"]) - 1)]
    return common.plane(v).points(v["reverse"][k], common.MODEL_COLOUR, 1).arrows(v["arrows_x"], tips)


def energy_picture(v: dict[str, np.ndarray], k: int) -> Plane:
    """E(x) on the grid with some Langevin chains up to the slider's step, and every chain's point there."""
    out = common.plane(v).density(v["energy"], stops=LOW_IS_BRIGHT)
    out.lines(v["paths"].transpose(1, 0, 2)[:CHAINS_DRAWN, : chain_frame(v, k) + 1], CHAIN_COLOUR)
    return out.points(v["reverse"][k], common.MODEL_COLOUR, 1)


def chain_frame(v: dict[str, np.ndarray], k: int) -> int:
    """The last trajectory frame at or before the slider's step (frames and levels thin the same chain)."""
    return int(np.searchsorted(v["path_t"], v["level_t"][k], side="right")) - 1
