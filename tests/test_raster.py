"""Server-rendered pictures: cells, points and ticks land where the data coordinates say, inks are exact."""

import io

import numpy as np
from PIL import Image

from playground import memo
from playground.pictures import common, raster
from playground.pictures.raster import Plane


def decoded(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def plot_area(png: bytes, size: int = raster.SIZE) -> np.ndarray:
    return decoded(png)[raster.PAD : raster.PAD + size, raster.PAD_LEFT : raster.PAD_LEFT + size]


def test_a_density_fills_the_box_with_y_up_and_nan_cells_grey():
    g = np.linspace(0, 1, 4)
    values = np.arange(16, dtype=float)  # rows of constant y, y increasing: the largest values on top
    values[0] = np.nan  # the bottom-left cell
    area = plot_area(Plane.of(g, g, size=8).density(values).png(), size=8)
    top_right, bottom_left = area[0, -1], area[-1, 0]
    assert tuple(top_right) == tuple(raster.rgb(raster.VIRIDIS[-1]))
    assert tuple(bottom_left) == raster.rgb(raster.NAN)
    assert tuple(area[-1, 2]) == tuple(raster.rgb(raster.VIRIDIS[0]))  # the smallest finite value


def test_points_land_at_their_coordinates_and_outliers_are_pinned_to_the_edge():
    plane = Plane((0.0, 1.0), (0.0, 1.0), size=101)
    plane.points(np.array([[0.25, 0.75], [5.0, -3.0]]), "#ff0000", radius=0)
    area = plot_area(plane.png(), size=101)
    red = np.argwhere((area == (255, 0, 0)).all(-1))
    assert {tuple(p) for p in red} == {(25, 25), (100, 100)}  # (row, column): y up; the outlier at the corner


def test_ticks_are_round_and_inside_the_range():
    t = raster.ticks(-1.3, 2.7)
    assert np.allclose(t, [-1, 0, 1, 2]) and raster.ticks(0, 0.5)[1] == 0.1


def test_image_tiles_are_upscaled_at_least_three_times_nearest_neighbour():
    images = np.random.default_rng(0).random((4, 64))  # 8x8 images
    png = common.grey_tiles(images, (1, 8, 8), columns=4)
    picture = decoded(png)[..., 0]
    scale = picture.shape[1] // (4 * 9)  # tiles with a 1-pixel gap
    assert scale >= common.MIN_SCALE and picture.shape == (9 * scale, 4 * 9 * scale)
    first = picture[:8 * scale:scale, :8 * scale:scale]
    assert np.abs(first.astype(int) - np.rint(255 * (1 - images[0].reshape(8, 8)))).max() <= 1  # dark ink
    assert memo.png_size(png) == (picture.shape[1], picture.shape[0])


def test_a_square_box_holds_the_central_points_and_keeps_its_edges_while_they_move_a_little():
    from genmodels.models.plotbox import square_box

    rng = np.random.default_rng(0)
    points = rng.normal(size=(1000, 2)) * [1.0, 0.5] + [3.0, -1.0]
    x0, x1, y0, y1 = square_box(points)
    lo, hi = np.percentile(points, [1, 99], axis=0)
    assert x1 - x0 == y1 - y0 and x0 < lo[0] and hi[0] < x1 and y0 < lo[1] and hi[1] < y1
    assert square_box(points * 1.001 + 0.001) == (x0, x1, y0, y1)  # round edges: a small move keeps the axes
    assert (x1 - x0) / 2 <= 1.25 * (hi - lo).max() / 2 * 1.15  # not much looser than asked


def test_a_png_decodes_to_the_pixels_it_was_written_from():
    """Grey, RGB and palette pixels, random (every filter difference occurs) and with repeated rows, through Pillow."""
    rng = np.random.default_rng(1)
    grey = np.repeat(rng.integers(0, 256, (5, 7), dtype=np.uint8), 3, 0)
    colour = rng.integers(0, 256, (6, 4, 3), dtype=np.uint8)
    indices = rng.integers(0, 5, (9, 8), dtype=np.uint8)
    palette = rng.integers(0, 256, 15, dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(raster.png(grey)))), grey)
    np.testing.assert_array_equal(decoded(raster.png(colour)), colour)
    picture = raster.Raster(indices, palette.tobytes())
    np.testing.assert_array_equal(decoded(raster.png(picture)), palette.reshape(5, 3)[indices])
