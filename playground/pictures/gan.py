"""A GAN's pictures: the critic over the plane with the data, the fakes and the generator-gradient arrows,
the optimal critic from the known density (D* = p/(p+q) and its packed and least-squares forms), the
generator manifold, the samples against the data; for images, fixed-z sample tiles."""

from __future__ import annotations

import numpy as np

from genmodels.data import Dataset
from genmodels.models import MODELS
from genmodels.setup import Setup

from .common import MODEL_COLOUR, grey_tiles, plane, samples_vs_data, thin
from .raster import CRITIC

ARROW_FRACTION = 0.12  # the longest arrow spans this fraction of the plot
MANIFOLD_COLOURS = ("#1f77b4", "#ff7f0e")  # images of lines of constant z_2, of constant z_1
REAL_COLOUR, FAKE_COLOUR = "#1b7837", "#762a83"  # on the critic's purple (fake) to green (real) scale


def pictures(v: dict[str, np.ndarray], data: Dataset, setup: Setup) -> dict[str, bytes]:
    """Every picture these visuals have the arrays for, by name (the view's memo keys); the timeline at its
    slider's default, the current samples."""
    if data.is_image:
        return {"gan_images": image_tiles(v, data),
                "gan_timeline_images": timeline_tiles(v, data, None)} if "images" in v else {}
    if "samples" not in v:
        return {}
    optimal = optimal_critic(v, setup)
    builds = {"gan_critic": ("critic" in v, lambda: critic_picture(v, data, setup)),
              "gan_dstar": (optimal is not None, lambda: critic_picture(v, data, setup, optimal)),
              "gan_manifold": ("manifold" in v, lambda: manifold_picture(v)),
              "gan_timeline_plot": ("grid_x" in v, lambda: timeline_picture(v, data, None))}
    return {name: build() for name, (shown, build) in builds.items() if shown}


def optimal_critic(v: dict[str, np.ndarray], setup: Setup) -> np.ndarray | None:
    """The optimal critic over the grid, as its heatmap shows it, from the run's D* = p/(p+q) (data with a
    known density); None without D* or without a closed form (a Wasserstein critic)."""
    return MODELS[setup.model].optimal_critic(setup.model_config, v["d_star"]) if "d_star" in v else None


def critic_picture(v: dict[str, np.ndarray], data: Dataset, setup: Setup, optimal: np.ndarray | None = None
                   ) -> bytes:
    """The critic as colour, purple (fake) → green (real) over the model's critic range (the values' own range
    for an unbounded critic), with data and fakes and the generator-gradient arrows; given the `optimal`
    critic, that instead and no arrows."""
    lo, hi = MODELS[setup.model].critic_range(setup.model_config) or (None, None)
    out = plane(v).density(v["critic"] if optimal is None else optimal, stops=CRITIC, lo=lo, hi=hi)
    out.points(thin(data.test, 500), REAL_COLOUR, 1)
    out.points(thin(v["samples"], 500), FAKE_COLOUR, 1)
    if optimal is None:
        out.arrows(v["arrows_x"], arrow_tips(v["arrows_x"], v["arrows_v"], v["grid_x"]))
    return out.png()


def arrow_tips(x: np.ndarray, g: np.ndarray, gx: np.ndarray) -> np.ndarray:
    """Tips of segments from each fake point along -∇ℓ_G, scaled together so relative lengths stay true."""
    norm = np.linalg.norm(g, axis=1).max()
    return x + g * (ARROW_FRACTION * (gx[-1] - gx[0]) / norm if norm > 0 else 0.0)


def manifold_picture(v: dict[str, np.ndarray]) -> bytes:
    """The image under G of straight lines in z: where the latent plane is stretched, folded or torn.

    Lines of constant z_2 in one colour, lines of constant z_1 in the other.
    """
    lines = v["manifold"]
    half = max(len(lines) // 2, 1)
    out = plane(v)
    for part, colour in zip((lines[:half], lines[half:]), MANIFOLD_COLOURS):
        out.lines(part, colour)
    return out.points(thin(v["samples"], 500), MODEL_COLOUR, 1).png()


def timeline_picture(v: dict[str, np.ndarray], data: Dataset, k: int | None) -> bytes:
    """Timeline entry k's samples (None: the current ones) against the data."""
    return samples_vs_data(v["samples"] if k is None else v["timeline"][k], data.test, v).png()


def image_tiles(v: dict[str, np.ndarray], data: Dataset) -> bytes:
    """G(z) for the 64 fixed z."""
    return grey_tiles(v["images"], data.shape, columns=8)


def current_images(v: dict[str, np.ndarray]) -> np.ndarray:
    """The current images of the timeline's fixed z: the first of the fixed-z images."""
    return v["images"][: len(v["timeline"][0])]


def timeline_tiles(v: dict[str, np.ndarray], data: Dataset, k: int | None) -> bytes:
    """Timeline entry k's images (None: the current ones)."""
    return grey_tiles(current_images(v) if k is None else v["timeline"][k], data.shape, 8)
