"""Flow views: density heatmap over the data, samples, and N(0, I) transformed layer by layer."""

from __future__ import annotations

import numpy as np
import streamlit as st

from genmodels.data import Dataset
from genmodels.setup import Setup
from genmodels.train import Snapshot

from .. import figures


def draw(snap: Snapshot, data: Dataset, setup: Setup) -> None:
    v = snap.visuals
    if data.is_image:
        if "samples" in v:
            st.image(figures.image_grid(v["samples"][:50], data.shape), caption="model samples", clamp=True)
        return
    left, right = st.columns(2)
    if "log_density" in v:
        density = np.exp(v["log_density"])
        left.plotly_chart(figures.heatmap(density, v["grid_x"], v["grid_y"], "density exp(log p(x)) with data",
                                          overlay=data.test), key="density")
    if "samples" in v:
        right.plotly_chart(figures.samples_vs_data(v["samples"], data.test), key="samples")
    if "stages" in v:
        draw_stages(v["stages"])


def draw_stages(stages: np.ndarray) -> None:
    """The notes' Fig. 6: the same base points after k = 0..K layers, coloured by their base position."""
    k = st.slider("layers applied (k)", 0, len(stages) - 1, len(stages) - 1, key="stage_k")
    angle = np.arctan2(stages[0][:, 1], stages[0][:, 0])
    title = f"N(0, I) after {k} of {len(stages) - 1} layers"
    st.plotly_chart(figures.coloured_points(stages[k], angle, title), key="stages")
