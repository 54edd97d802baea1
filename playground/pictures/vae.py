"""A VAE's pictures: the latent means of test points with their 2σ posterior ellipses, the decoded latent grid,
reconstructions and samples (for images as tiles, with an interpolation in z; for points over the data), and the
EM recap's mixture (drawn by the page: it changes with its buttons, not with training)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from genmodels.data import Dataset
from genmodels.setup import Setup

from .common import DATA_COLOUR, MODEL_COLOUR, box_plane, grey_tiles, plane, samples_picture, samples_vs_data, thin
from .raster import Plane

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]
MESH_DATA_COLOUR = "#9ecae1"
Build = Callable[[dict[str, np.ndarray], Dataset], bytes]


def pictures(v: dict[str, np.ndarray], data: Dataset, setup: Setup) -> dict[str, bytes]:
    """Every picture these visuals have the arrays for, by name (the view's memo keys): the VAE page has no
    widget in its live panel, so these are all it shows."""
    return {name: build() for name, build in builders(v, data).items()}


def builders(v: dict[str, np.ndarray], data: Dataset) -> dict[str, Callable[[], bytes]]:
    """The pictures these visuals have the arrays for, by name, each still to be drawn (the view's and the
    host's one list)."""
    table = IMAGES if data.is_image else POINTS
    return {name: functools.partial(build, v, data) for name, (needs, build) in table.items()
            if all(k in v for k in needs)}


def labels(data: Dataset, n: int) -> np.ndarray | None:
    """Class labels of the first n test points (the trainer's probe), where the dataset has them."""
    return None if data.test_labels is None else data.test_labels[:n]


def latent_picture(v: dict[str, np.ndarray], classes: np.ndarray | None) -> Plane:
    """Posterior means of the test points on the latent plane (the decoded grid's box), by class, 2σ ellipses."""
    points = v["latent_points"]
    out = Plane.of(v["latent_grid_u"], v["latent_grid_v"]) if "latent_grid_u" in v else box_plane(points)
    if classes is None:
        out.points(points, DATA_COLOUR, 1)
    else:
        for c in np.unique(classes):
            out.points(points[classes == c], PALETTE[int(c) % len(PALETTE)], 1)
    if "latent_ellipses" in v:
        out.lines(v["latent_ellipses"], "#000000")
    return out


def labelled_latents(v: dict[str, np.ndarray], data: Dataset) -> bytes:
    """Images: the latent scatter coloured by class where the data are labelled."""
    return latent_picture(v, labels(data, len(v["latent_points"]))).png()


def latents(v: dict[str, np.ndarray], data: Dataset) -> bytes:
    """Points: the latent scatter in one colour."""
    return latent_picture(v, None).png()


def grid_tiles(v: dict[str, np.ndarray], data: Dataset) -> bytes:
    """The decoded latent grid, one row of tiles per grid row (the plane of the scatter)."""
    return grey_tiles(v["latent_grid"], data.shape, len(v["latent_grid_u"]))


def reconstruction_tiles(v: dict[str, np.ndarray], data: Dataset) -> bytes:
    """Test inputs above their reconstructions."""
    return grey_tiles(np.concatenate([v["inputs"], v["reconstructions"]]), data.shape, len(v["inputs"]))


def interpolation_tiles(v: dict[str, np.ndarray], data: Dataset) -> bytes:
    """The decoded means along a line in z between two test images, in one row."""
    return grey_tiles(v["interpolation"], data.shape, len(v["interpolation"]))


def sample_tiles(v: dict[str, np.ndarray], data: Dataset) -> bytes:
    return grey_tiles(v["samples"][:30], data.shape, 15)


def mesh_picture(v: dict[str, np.ndarray], data: Dataset) -> bytes:
    """Decoded means of the latent grid drawn as a mesh over the data: rows and columns of the grid as lines."""
    grid = v["latent_grid"]
    out = plane(v).points(thin(data.test, 500), MESH_DATA_COLOUR, 1)
    return out.lines([*grid, *grid.transpose(1, 0, 2)], MODEL_COLOUR).png()


def reconstruction_picture(v: dict[str, np.ndarray], data: Dataset) -> bytes:
    """Test points (blue) and their reconstructions (red)."""
    x_hat = v["reconstructions"]
    return samples_vs_data(x_hat, data.test[:len(x_hat)], v).png()


def em_picture(x: np.ndarray, s: dict[str, np.ndarray]) -> bytes:
    """EM recap: points coloured by their most responsible component; 2σ ellipses of the components."""
    owner = s["responsibilities"].argmax(1)
    out = box_plane(x)
    for j in range(len(s["weights"])):
        out.points(x[owner == j], PALETTE[j % len(PALETTE)], 1)
    return out.lines(s["ellipses"], "#000000", 2).png()


# name -> (the visuals it needs, its build), in the page's order
IMAGES: dict[str, tuple[tuple[str, ...], Build]] = {
    "vae_latent": (("latent_points",), labelled_latents),
    "vae_grid": (("latent_grid",), grid_tiles),
    "vae_recon": (("reconstructions",), reconstruction_tiles),
    "vae_interp": (("interpolation",), interpolation_tiles),
    "vae_samples": (("samples",), sample_tiles),
}
POINTS: dict[str, tuple[tuple[str, ...], Build]] = {
    "vae_samples": (("samples", "grid_x"), samples_picture),
    "vae_grid": (("latent_grid",), mesh_picture),
    "vae_latent": (("latent_points",), latents),
    "vae_recon": (("reconstructions",), reconstruction_picture),
}
