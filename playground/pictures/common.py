"""What the family pictures share: a plane over the visuals' grid, densities, points against the data,
image tiles. Numpy and Pillow only (`raster`): a run's host draws these too (`playground.pictures.render`)."""

from __future__ import annotations

import numpy as np

from genmodels.data import Dataset
from genmodels.models.plotbox import square_box

from . import raster
from .raster import Plane

IMAGE_WIDTH = 480  # pixels of an enlarged image grid (at least: small grids are upscaled to about this)
MIN_SCALE = 3  # image tiles are at least 3x upscaled, nearest-neighbour (legible on a projector)
DATA_COLOUR, MODEL_COLOUR, OVERLAY_COLOUR = "#1f77b4", "#d62728", "#ffffff"


def thin(points: np.ndarray, n: int = 1000) -> np.ndarray:
    """At most n rows, evenly spaced (drawing 50k points per tick would be slow)."""
    return points[:: max(1, len(points) // n)]


def plane(v: dict[str, np.ndarray]) -> Plane:
    """A blank plane over the visuals' grid (fixed axes: the grid covers the data with a margin)."""
    return Plane.of(v["grid_x"], v["grid_y"])


def density(values: np.ndarray, v: dict[str, np.ndarray], overlay: np.ndarray | None = None, **scale) -> Plane:
    """values: (G*G,) over the visuals' grid as coloured cells; optional points on top (white)."""
    out = plane(v).density(values, **scale)
    return out if overlay is None else out.points(thin(overlay, 500), OVERLAY_COLOUR, 0)


def samples_vs_data(samples: np.ndarray, data: np.ndarray, v: dict[str, np.ndarray]) -> Plane:
    """Both point sets on the fixed grid's plane, so the view stays put while the samples move."""
    return plane(v).points(thin(data), DATA_COLOUR).points(thin(samples), MODEL_COLOUR)


def samples_picture(v: dict[str, np.ndarray], data: Dataset) -> bytes:
    """The model's samples (red) on the data (blue), on the visuals' grid."""
    return samples_vs_data(v["samples"], data.test, v).png()


def box_plane(points: np.ndarray) -> Plane:
    """A square plane over the central 98% of the points plus a margin, round edges (`square_box`): outliers
    are pinned to the edge, never allowed to squash the view."""
    x0, x1, y0, y1 = square_box(points)
    return Plane((x0, x1), (y0, y1))


def grey_tiles(images: np.ndarray, shape: tuple[int, ...], columns: int = 10, gap: int = 1) -> bytes:
    """Images in [0, 1] (ink 1) tiled with a blank gap between neighbours, dark on white, as a PNG at least
    MIN_SCALE times larger (nearest-neighbour: pixels stay crisp), about IMAGE_WIDTH wide when small."""
    h, w = shape[-2:]
    padded = np.pad(np.asarray(images).reshape(-1, h, w), ((0, 0), (0, gap), (0, gap)))
    picture = image_grid(padded.reshape(len(padded), -1), padded.shape, columns)
    return raster.grey(picture, max(MIN_SCALE, IMAGE_WIDTH // picture.shape[1]))


def image_grid(images: np.ndarray, shape: tuple[int, ...], columns: int = 10) -> np.ndarray:
    """Tile (n, D) images in [0, 1] of shape (1, H, W) into one (rows*H, columns*W) picture."""
    h, w = shape[-2:]
    n = len(images) // columns * columns or len(images)
    columns = min(columns, n)
    tiles = np.clip(images[:n], 0, 1).reshape(-1, columns, h, w)
    return tiles.transpose(0, 2, 1, 3).reshape(-1, columns * w)
