"""Flow views: density over the data (or the reverse-KL target), samples, and N(0, I) layer by layer."""

from __future__ import annotations

import numpy as np
import streamlit as st

from genmodels.data import Dataset
from genmodels.setup import Setup
from genmodels.training.snapshot import Snapshot

from .. import figures, memo, raster
from ..memo import Picture
from ..raster import Plane

STRIP_SIZE = 160  # pixels per intermediate density (32 cells of 5)
GRID_COLOUR = "#b4b4b4"
HUES = ("#e41a1c", "#ff7f00", "#d4b000", "#4daf4a", "#00a0a0", "#377eb8", "#984ea3", "#f781bf")  # base angle


def draw(snap: Snapshot, data: Dataset, setup: Setup) -> None:
    v, step = snap.visuals, snap.visuals_step
    if data.is_image:
        if "samples" in v:
            memo.image(st, "flow_samples", v, lambda: figures.grey_tiles(v["samples"][:50], data.shape),
                       figures.first_step_note(step, "model samples", "the untrained flow's noise"), step=step)
        if "latent_image" in v:
            draw_latents(v, step)
        return
    first = target_pictures(v, setup.model_config.target) if "target_log_density" in v else data_pictures(v, data)
    memo.row(st, v, first, step)
    if "stage_log_density" in v:
        memo.image(st, "stage_densities", v, lambda: stage_strip(v), "the notes' Fig. 6 as densities: p_k of "
                   "y_k = g_k ∘ … ∘ g_1(z), z ~ N(0, I), after k = " + ", ".join(map(str, v["stage_k"])) +
                   " layers (exact, by change of variables; each on its own box), the base points on top", step=step)
    if "stages" in v:
        draw_stages(v, step)


def data_pictures(v: dict, data: Dataset) -> list[Picture | None]:
    """The model's density over the data, its samples beside the data."""
    return [Picture("density", lambda: figures.density(np.exp(v["log_density"]), v, data.test).png(),
                    "density exp(log p(x)), data in white") if "log_density" in v else None,
            Picture("samples", lambda: figures.samples_vs_data(v["samples"], data.test, v).png(),
                    "samples (red) vs data (blue)") if "samples" in v and "grid_x" in v else None]


def target_pictures(v: dict, target: str) -> list[Picture | None]:
    """Reverse KL ignores the data: the target exp(-U)/Z with the model's samples, and the model's density."""
    return [Picture("target", lambda: figures.density(np.exp(v["target_log_density"]), v, v["samples"]).png(),
                    f"target exp(-U)/Z, U = {target}, samples in white"),
            Picture("density", lambda: figures.density(np.exp(v["log_density"]), v).png(), "model density q(x)")]


def stage_strip(v: dict[str, np.ndarray]) -> bytes:
    """The intermediate densities side by side, each with stage k's points."""
    pictures = []
    for k, box, log_p in zip(v["stage_k"], v["stage_box"], v["stage_log_density"]):
        plane = Plane((box[0], box[1]), (box[2], box[3]), size=STRIP_SIZE).density(np.exp(log_p))
        pictures.append(plane.points(figures.thin(v["stages"][k], 300), figures.OVERLAY_COLOUR, 0).framed())
    return raster.png(raster.side_by_side(pictures))


def draw_stages(v: dict[str, np.ndarray], step: int) -> None:
    """The notes' Fig. 6: the same base points after k = 0..K layers, coloured by their base position;
    beside it log |det J| of g^{-1} on the grid, and below each layer's mean log-det."""
    stages = v["stages"]
    k = st.slider("layers applied (k)", 0, len(stages) - 1, len(stages) - 1, key="stage_k")
    memo.row(st, v, [
        Picture(("stages", k), lambda: stages_picture(v, k), f"N(0, I) after {k} of {len(stages) - 1} layers, "
                "coloured by the angle of each base point" + (", on the image of a square grid of z-lines (grey: "
                "the deformed grid)" if "grid_stages" in v else "")),
        Picture("log_det", lambda: log_det_picture(v), "log |det ∂z/∂x| of g⁻¹ over the plane: red where g⁻¹ "
                "stretches space (the density is raised), blue where it compresses (lowered)") if "log_det" in v
        else None], step)
    if "layer_log_det" in v:
        st.vega_lite_chart(figures.bar_chart(v["layer_log_det"], "layer k", "mean log |det ∂y_k/∂y_(k−1)| over "
                                             "the base draws: what each layer adds to log q"), key="layer_log_det")


def log_det_picture(v: dict[str, np.ndarray]) -> bytes:
    """A diverging scale, 0 (volume kept) white, symmetric about 0."""
    m = float(np.abs(v["log_det"]).max()) or 1.0
    return figures.plane(v).density(v["log_det"], stops=raster.DIVERGING, lo=-m, hi=m).png()


def stages_picture(v: dict[str, np.ndarray], k: int) -> bytes:
    """Stage k's points on the box of their own central 98% (+ margin), so outliers do not squash them, over
    the z-grid's lines after the same k layers where the visuals have them."""
    stages = v["stages"]
    angle = np.arctan2(stages[0][:, 1], stages[0][:, 0])
    hue = ((angle + np.pi) / (2 * np.pi) * len(HUES)).astype(int) % len(HUES)
    picture = figures.box_plane(stages[k])
    if "grid_stages" in v:
        picture.lines(v["grid_stages"][k], GRID_COLOUR)
    for i, colour in enumerate(HUES):
        picture.points(stages[k][hue == i], colour, 1)
    return picture.png()


def draw_latents(v: dict[str, np.ndarray], step: int) -> None:
    """Glow: a held-out image and its latent z at each scale, one tile per channel, z ∈ [−3, 3] as white to black."""
    scales = sorted(k for k in v if k.startswith("latent_") and k != "latent_image")
    image = v["latent_image"]
    pictures = [Picture("glow_image", lambda: figures.grey_tiles(image[None], image.shape, columns=1),
                        "held-out image")]
    for key in scales:
        z, tiles = v[key], min(len(v[key]), 4)
        pictures.append(Picture(f"glow_{key}", lambda z=z, tiles=tiles: figures.grey_tiles((z + 3) / 6, z.shape, tiles),
                                f"scale {key[7:]}: z of shape {z.shape}"))
    memo.row(st, v, pictures, step, columns=len(pictures))
