"""A flow's pictures: its density over the data (or the reverse-KL target), samples, N(0, I) layer by layer
(the notes' Fig. 6, as points and as densities), log |det J| over the plane; for images, sample tiles and
Glow's latents."""

from __future__ import annotations

import numpy as np

from genmodels.data import Dataset
from genmodels.setup import Setup

from . import raster
from .common import OVERLAY_COLOUR, box_plane, density, grey_tiles, plane, samples_picture, thin
from .raster import Plane

STRIP_SIZE = 160  # pixels per intermediate density (32 cells of 5)
GRID_COLOUR = "#b4b4b4"
HUES = ("#e41a1c", "#ff7f00", "#d4b000", "#4daf4a", "#00a0a0", "#377eb8", "#984ea3", "#f781bf")  # base angle


def pictures(v: dict[str, np.ndarray], data: Dataset, setup: Setup) -> dict[str, bytes]:
    """Every picture these visuals have the arrays for, by name (the view's memo keys); the points after
    k layers for k = K, the layer slider's default."""
    if data.is_image:
        out = {"flow_samples": sample_tiles(v, data)} if "samples" in v else {}
        return out | (latent_tiles(v) if "latent_image" in v else {})
    fitted = "target_log_density" not in v
    builds = {"target": (not fitted, lambda: target_picture(v)),
              "density": ("log_density" in v, lambda: density_picture(v, data)),
              "samples": (fitted and "samples" in v, lambda: samples_picture(v, data)),
              "stage_densities": ("stage_log_density" in v, lambda: stage_strip(v)),
              "stages": ("stages" in v, lambda: stages_picture(v, len(v["stages"]) - 1)),
              "log_det": ("log_det" in v, lambda: log_det_picture(v))}
    return {name: build() for name, (shown, build) in builds.items() if shown}


def density_picture(v: dict[str, np.ndarray], data: Dataset) -> bytes:
    """exp(log p(x)) over the grid; fitted to data, the data in white on top (to a target, nothing)."""
    return density(np.exp(v["log_density"]), v, None if "target_log_density" in v else data.test).png()


def target_picture(v: dict[str, np.ndarray]) -> bytes:
    """The target exp(-U)/Z with the model's samples in white."""
    return density(np.exp(v["target_log_density"]), v, v["samples"]).png()


def sample_tiles(v: dict[str, np.ndarray], data: Dataset) -> bytes:
    return grey_tiles(v["samples"][:50], data.shape)


def stage_strip(v: dict[str, np.ndarray]) -> bytes:
    """The intermediate densities side by side, each with stage k's points."""
    strip = []
    for k, box, log_p in zip(v["stage_k"], v["stage_box"], v["stage_log_density"]):
        stage = Plane((box[0], box[1]), (box[2], box[3]), size=STRIP_SIZE).density(np.exp(log_p))
        strip.append(stage.points(thin(v["stages"][k], 300), OVERLAY_COLOUR, 0).framed())
    return raster.png(raster.side_by_side(strip))


def log_det_picture(v: dict[str, np.ndarray]) -> bytes:
    """A diverging scale, 0 (volume kept) white, symmetric about 0."""
    m = float(np.abs(v["log_det"]).max()) or 1.0
    return plane(v).density(v["log_det"], stops=raster.DIVERGING, lo=-m, hi=m).png()


def stages_picture(v: dict[str, np.ndarray], k: int) -> bytes:
    """Stage k's points on the box of their own central 98% (+ margin), so outliers do not squash them, over
    the z-grid's lines after the same k layers where the visuals have them."""
    stages = v["stages"]
    angle = np.arctan2(stages[0][:, 1], stages[0][:, 0])
    hue = ((angle + np.pi) / (2 * np.pi) * len(HUES)).astype(int) % len(HUES)
    picture = box_plane(stages[k])
    if "grid_stages" in v:
        picture.lines(v["grid_stages"][k], GRID_COLOUR)
    for i, colour in enumerate(HUES):
        picture.points(stages[k][hue == i], colour, 1)
    return picture.png()


def latent_keys(v: dict[str, np.ndarray]) -> list[str]:
    """Glow's latent scales in the visuals, coarse to fine."""
    return sorted(k for k in v if k.startswith("latent_") and k != "latent_image")


def latent_tiles(v: dict[str, np.ndarray]) -> dict[str, bytes]:
    """Glow: a held-out image and its latent z at each scale, one tile per channel, z ∈ [−3, 3] as white to
    black (at most 4 channels a scale)."""
    image = v["latent_image"]
    out = {"glow_image": grey_tiles(image[None], image.shape, columns=1)}
    for key in latent_keys(v):
        z = v[key]
        out[f"glow_{key}"] = grey_tiles((z + 3) / 6, z.shape, min(len(z), 4))
    return out
