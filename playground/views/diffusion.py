"""Diffusion and energy views: samples vs data, trajectories from noise to data, and with a slider over the
path's time the forward (noising) process beside the reverse process, and the learned field as arrows; the
EBM's energy as a heatmap with its chains on it.

Everything drawn comes from `snap.visuals`, as the pictures of `playground.pictures.diffusion` on the trainer's
grid: fixed axes, no WebGL. The run's host draws them at the slider's default (the data end); the page draws
a level the slider moved to.
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
from ..pictures import diffusion as pictures


def draw(snap: Snapshot, data: Dataset, setup: Setup) -> None:
    v, step = snap.visuals, snap.visuals_step
    if "samples" not in v or "grid_x" not in v:
        return
    model = MODELS[setup.model]
    memo.row(st, v, [
        Picture("diffusion_samples", lambda: pictures.samples_picture(v, data), "samples (red) vs data (blue)"),
        Picture("diffusion_paths", lambda: pictures.paths_picture(v),
                f"{v['paths'].shape[1]} trajectories from noise to data (grey), where they end (red)")], step)
    k = level_slider(v, model.time_label)
    at = f"{model.time_label} = {v['level_t'][k]:.3g}"
    if "energy" in v:
        left = Picture(level_key(v, "diffusion_energy", k), lambda: pictures.energy_picture(v, k),
                       f"energy E(x), Langevin chains at {at} (white), their points there (red); bright: low E")
    elif "forward" in v:
        left = Picture(level_key(v, "diffusion_forward", k), lambda: pictures.forward_picture(v, k),
                       f"{at}: noised data (blue) by q(x_t | x_0), the sampler's points (red)")
    else:
        left = None
    right = Picture(level_key(v, "diffusion_field", k), lambda: pictures.field_picture(v, k),
                    f"learned {model.field_label} at {field_time(v, k, model.time_label)} (arrows), "
                    "the sampler's points (red)") if "arrow_tips" in v else None
    memo.row(st, v, [left, right], step)


def level_slider(v: dict[str, np.ndarray], label: str) -> int:
    """An index over the path's shown times, from the noise end (0) to the data end, there first."""
    last, key = pictures.data_end(v), "diffusion_level"
    st.session_state[key] = min(st.session_state.get(key, last), last)
    k = st.slider(f"along the path, noise (0) → data ({last})", 0, last, key=key)
    st.caption(f"{label} = {v['level_t'][k]:.3g}")
    return k


def level_key(v: dict[str, np.ndarray], name: str, k: int) -> str | tuple[str, int]:
    """A level's picture's memo key: its name at the data end, where the run's host drew it, else (name, k)."""
    return name if k == pictures.data_end(v) else (name, k)


def field_time(v: dict[str, np.ndarray], k: int, label: str) -> str:
    """The field's own time: one level for every slider position where it does not depend on time (EBM)."""
    return "every step" if len(v["arrow_tips"]) == 1 else f"{label} = {v['level_t'][k]:.3g}"
