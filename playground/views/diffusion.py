"""Diffusion and energy views: samples vs data, trajectories from noise to data, and with a slider over the
path's time the forward (noising) process, the reverse process and the learned field as arrows; the EBM's
energy as a heatmap with its chains on it.

Everything drawn comes from `snap.visuals` (see `genmodels.models.diffusion.DiffusionModel.visuals`).
SVG traces only (`go.Scatter`, thinned), no WebGL.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from genmodels.data import Dataset
from genmodels.hosting.trainer import Snapshot
from genmodels.models import MODELS
from genmodels.setup import Setup

from .. import figures, memo

ARROW_FRACTION = 0.06  # an arrow of typical length spans this fraction of the plot
PATH_COLOUR = "rgba(120, 120, 120, 0.35)"


def points(x: np.ndarray, colour: str, name: str, size: int = 3, opacity: float = 0.6) -> go.Scatter:
    return go.Scatter(x=x[:, 0], y=x[:, 1], mode="markers", name=name, hoverinfo="skip",
                      marker=dict(size=size, color=colour, opacity=opacity))


def draw(snap: Snapshot, data: Dataset, setup: Setup) -> None:
    v = snap.visuals
    if "samples" not in v:
        return
    model = MODELS[setup.model]
    axes = (v["grid_x"], v["grid_y"])
    left, right = st.columns(2)
    memo.plotly_chart(left, "diffusion_samples", v, lambda: samples_figure(v, data, axes))
    memo.plotly_chart(right, "diffusion_paths", v, lambda: paths_figure(v, axes))
    k = level_slider(v, model.time_label)
    left, right = st.columns(2)
    if "energy" in v:
        memo.plotly_chart(left, "diffusion_energy", v, lambda: energy_figure(v, axes, k, model.time_label), k)
    elif "forward" in v:
        memo.plotly_chart(left, "diffusion_forward", v, lambda: forward_figure(v, data, axes, k, model.time_label), k)
    memo.plotly_chart(right, "diffusion_field", v, lambda: field_figure(v, axes, k, model), k)


def level_slider(v: dict[str, np.ndarray], label: str) -> int:
    """An index over the path's shown times, from the noise end (0) to the data end."""
    t = v["level_t"]
    key = "diffusion_level"
    st.session_state[key] = min(st.session_state.get(key, len(t) - 1), len(t) - 1)
    k = st.slider(f"along the path, noise (0) → data ({len(t) - 1})", 0, len(t) - 1, key=key)
    st.caption(f"{label} = {t[k]:.3g}")
    return k


def samples_figure(v, data: Dataset, axes) -> go.Figure:
    traces = [points(figures.thin(data.test), figures.DATA_COLOUR, "data"),
              points(figures.thin(v["samples"]), figures.MODEL_COLOUR, "samples")]
    return figures.figure(traces, "samples (red) vs data (blue)", axes=axes)


def paths_figure(v, axes) -> go.Figure:
    """Each sample's trajectory from noise (grey lines) to where it ends (red)."""
    traces = [figures.lines(v["paths"].transpose(1, 0, 2), PATH_COLOUR, 0.7),
              points(v["paths"][-1], figures.MODEL_COLOUR, "end", size=4, opacity=0.9)]
    return figures.figure(traces, f"{v['paths'].shape[1]} trajectories from noise to data", axes=axes)


def forward_figure(v, data: Dataset, axes, k: int, label: str) -> go.Figure:
    """q(x_t | x_0) of held-out points beside the reverse process's points at the same time."""
    traces = [points(v["forward"][k], figures.DATA_COLOUR, "forward: noised data", size=4),
              points(v["reverse"][k], figures.MODEL_COLOUR, "reverse: sampler", size=4)]
    title = f"{label} = {v['level_t'][k]:.3g}: noised data (blue), sampler (red)"
    return figures.figure(traces, title, axes=axes)


def field_figure(v, axes, k: int, model) -> go.Figure:
    field = v["field"][min(k, len(v["field"]) - 1)]
    traces = [arrows(v["arrows_x"], field, axes),
              points(v["reverse"][k], figures.MODEL_COLOUR, "sampler", size=3, opacity=0.5)]
    return figures.figure(traces, f"learned {model.field_label} (arrows), sampler's points (red)", axes=axes)


def arrows(x: np.ndarray, field: np.ndarray, axes) -> go.Scatter:
    """Segments from each grid point along the field: the 90th-percentile length drawn as ARROW_FRACTION of the
    plot, longer ones capped there (near a mode a score is huge), so that directions stay readable."""
    norm = np.linalg.norm(field, axis=1, keepdims=True)
    typical = max(float(np.percentile(norm, 90)), 1e-12)
    length = ARROW_FRACTION * (axes[0][-1] - axes[0][0]) * np.minimum(norm / typical, 1.0)
    return figures.lines(np.stack([x, x + field / np.maximum(norm, 1e-12) * length], 1), "black", 1.2)


def energy_figure(v, axes, k: int, label: str) -> go.Figure:
    """E(x) on the grid (low = likely) with the Langevin chains on it, and where they are at the slider's step."""
    extra = (figures.lines(v["paths"].transpose(1, 0, 2), "rgba(255, 255, 255, 0.3)", 0.7),
             points(v["reverse"][k], figures.MODEL_COLOUR, "chains", size=4, opacity=0.9))
    title = f"energy E(x), Langevin chains at {label.lower()} {v['level_t'][k]:.0f}"
    return figures.heatmap(v["energy"], axes[0], axes[1], title, colorscale="Viridis_r", extra=extra)
