"""Flow views: density heatmap over the data (or the reverse-KL target), samples, and N(0, I) layer by layer."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from genmodels.data import Dataset
from genmodels.hosting.trainer import Snapshot
from genmodels.setup import Setup
from playground import figures, memo


def draw(snap: Snapshot, data: Dataset, setup: Setup) -> None:
    v = snap.visuals
    if data.is_image:
        if "samples" in v:
            st.image(figures.image_grid(v["samples"][:50], data.shape), caption="model samples", clamp=True)
        if "latent_image" in v:
            draw_latents(v)
        return
    left, right = st.columns(2)
    if "target_log_density" in v:
        draw_target(v, setup.model_config.target, left, right)
    else:
        draw_fit_to_data(v, data, left, right)
    if "stages" in v:
        draw_stages(v)


def draw_fit_to_data(v: dict, data: Dataset, left, right) -> None:
    if "log_density" in v:
        memo.plotly_chart(left, "density", v, lambda: figures.heatmap(
            np.exp(v["log_density"]), v["grid_x"], v["grid_y"], "density exp(log p(x)) with data", overlay=data.test))
    if "samples" in v:
        axes = (v["grid_x"], v["grid_y"]) if "grid_x" in v else None
        memo.plotly_chart(right, "samples", v, lambda: figures.samples_vs_data(v["samples"], data.test, axes))


def draw_target(v: dict, target: str, left, right) -> None:
    """Reverse KL ignores the data: the target exp(-U)/Z with the model's samples, and the model's density."""
    memo.plotly_chart(left, "target", v, lambda: figures.heatmap(
        np.exp(v["target_log_density"]), v["grid_x"], v["grid_y"], f"target exp(-U)/Z, U = {target}, with samples",
        overlay=v["samples"]))
    memo.plotly_chart(right, "density", v, lambda: figures.heatmap(
        np.exp(v["log_density"]), v["grid_x"], v["grid_y"], "model density q(x)"))


def draw_stages(v: dict[str, np.ndarray]) -> None:
    """The notes' Fig. 6: the same base points after k = 0..K layers, coloured by their base position."""
    stages = v["stages"]
    k = st.slider("layers applied (k)", 0, len(stages) - 1, len(stages) - 1, key="stage_k")
    memo.plotly_chart(st, "stages", v, lambda: stages_figure(stages, k), k)


def stages_figure(stages: np.ndarray, k: int) -> go.Figure:
    angle = np.arctan2(stages[0][:, 1], stages[0][:, 0])
    return figures.coloured_points(stages[k], angle, f"N(0, I) after {k} of {len(stages) - 1} layers")


def draw_latents(v: dict[str, np.ndarray]) -> None:
    """Glow: a held-out image and its latent z at each scale, one tile per channel, z ∈ [−3, 3] as black to white."""
    scales = sorted(k for k in v if k.startswith("latent_") and k != "latent_image")
    columns = st.columns(1 + len(scales))
    columns[0].image(v["latent_image"], caption="held-out image", clamp=True, width=112)
    for column, key in zip(columns[1:], scales):
        z, tiles = v[key], min(len(v[key]), 4)
        grid = figures.image_grid((z + 3) / 6, z.shape, columns=tiles)
        column.image(grid, caption=f"scale {key[7:]}: z of shape {z.shape}", clamp=True, width=56 * tiles)
