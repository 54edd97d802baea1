"""Flow views: density over the data (or the reverse-KL target), samples, and N(0, I) layer by layer."""

from __future__ import annotations

import numpy as np
import streamlit as st

from genmodels.data import Dataset
from genmodels.setup import Setup
from genmodels.training.snapshot import Snapshot

from .. import figures, memo
from ..memo import Picture
from ..pictures import flow as pictures


def draw(snap: Snapshot, data: Dataset, setup: Setup) -> None:
    v, step = snap.visuals, snap.visuals_step
    if data.is_image:
        if "samples" in v:
            memo.image(st, "flow_samples", v, lambda: pictures.sample_tiles(v, data),
                       figures.first_step_note(step, "model samples", "the untrained flow's noise"), step=step)
        if "latent_image" in v:
            draw_latents(v, step)
        return
    first = target_pictures(v, setup.model_config.target) if "target_log_density" in v else data_pictures(v, data)
    memo.row(st, v, first, step)
    if "stage_log_density" in v:
        memo.image(st, "stage_densities", v, lambda: pictures.stage_strip(v), "the notes' Fig. 6 as densities: "
                   "p_k of y_k = g_k ∘ … ∘ g_1(z), z ~ N(0, I), after k = " + ", ".join(map(str, v["stage_k"])) +
                   " layers (exact, by change of variables; each on its own box), the base points on top", step=step)
    if "stages" in v:
        draw_stages(v, step)


def data_pictures(v: dict, data: Dataset) -> list[Picture | None]:
    """The model's density over the data, its samples beside the data."""
    return [Picture("density", lambda: pictures.density_picture(v, data), "density exp(log p(x)), data in white")
            if "log_density" in v else None,
            Picture("samples", lambda: pictures.samples_picture(v, data),
                    "samples (red) vs data (blue)") if "samples" in v and "grid_x" in v else None]


def target_pictures(v: dict, target: str) -> list[Picture | None]:
    """Reverse KL ignores the data: the target exp(-U)/Z with the model's samples, and the model's density."""
    return [Picture("target", lambda: pictures.target_picture(v), f"target exp(-U)/Z, U = {target}, samples in "
                    "white"),
            Picture("density", lambda: pictures.density_picture(v, None), "model density q(x)")]


def draw_stages(v: dict[str, np.ndarray], step: int) -> None:
    """The notes' Fig. 6: the same base points after k = 0..K layers, coloured by their base position;
    beside it log |det J| of g^{-1} on the grid, and below each layer's mean log-det. The host draws the
    points after K layers (the slider's default, key "stages"); the page draws the others."""
    last = len(v["stages"]) - 1
    k = st.slider("layers applied (k)", 0, last, last, key="stage_k")
    memo.row(st, v, [
        Picture("stages" if k == last else ("stages", k), lambda: pictures.stages_picture(v, k),
                f"N(0, I) after {k} of {last} layers, coloured by the angle of each base point"
                + (", on the image of a square grid of z-lines (grey: the deformed grid)" if "grid_stages" in v
                   else "")),
        Picture("log_det", lambda: pictures.log_det_picture(v), "log |det ∂z/∂x| of g⁻¹ over the plane: red where "
                "g⁻¹ stretches space (the density is raised), blue where it compresses (lowered)") if "log_det" in v
        else None], step)
    if "layer_log_det" in v:
        st.vega_lite_chart(memo.get("layer_log_det", v, lambda: figures.bar_chart(
            v["layer_log_det"], "layer k", "mean log |det ∂y_k/∂y_(k−1)| over the base draws: what each layer adds "
            "to log q")), key="layer_log_det")


def draw_latents(v: dict[str, np.ndarray], step: int) -> None:
    """Glow: a held-out image and its latent z at each scale (`pictures.latent_tiles`)."""
    def tile(name: str):
        return lambda: memo.get("glow_tiles", v, lambda: pictures.latent_tiles(v))[name]

    shown = [Picture("glow_image", tile("glow_image"), "held-out image")]
    shown += [Picture(f"glow_{key}", tile(f"glow_{key}"), f"scale {key[7:]}: z of shape {v[key].shape}")
              for key in pictures.latent_keys(v)]
    memo.row(st, v, shown, step, columns=len(shown))
