"""Drawn and clicked points: canvas strokes map to the plane, sprays are blobs, the CSV path accepts them."""

from __future__ import annotations

import numpy as np
import pytest

from genmodels.data import load_csv
from genmodels.data.drawn import BOX, canvas_points, spray, to_csv
from genmodels.data.formula import sample_energy
from genmodels.errors import UserError


def test_canvas_objects_map_to_the_plane_with_y_up():
    # As streamlit-drawable-canvas 0.13 (Fabric.js 7) sends them: absolute path vertices, circles by origin.
    path = {"type": "Path", "path": [["M", 0, 0], ["Q", 100, 100, 200, 200], ["L", 400, 400]]}
    dot = {"type": "Circle", "left": 97, "top": 300, "radius": 3, "originX": "left", "originY": "center"}
    centred = {"type": "circle", "left": 300, "top": 97, "radius": 3, "originX": "center", "originY": "top"}
    ignored = {"type": "rect", "left": 1, "top": 1}
    points = canvas_points([path, dot, centred, ignored], width=400, height=400, max_points=10)
    expected = [(-BOX, BOX), (-BOX / 2, BOX / 2), (0, 0), (BOX, -BOX), (-BOX / 2, -BOX / 2), (BOX / 2, BOX / 2)]
    np.testing.assert_allclose(points, expected)
    assert canvas_points([ignored], 400, 400, max_points=10).shape == (0, 2)


def test_spray_is_a_gaussian_blob_around_each_point():
    centres = np.array([[0.0, 0.0], [10.0, -5.0]])
    cloud = spray(centres, copies=4000, std=0.5, seed=1)
    assert cloud.shape == (8000, 2)
    for i, c in enumerate(centres):
        blob = cloud[i * 4000:(i + 1) * 4000]
        np.testing.assert_allclose(blob.mean(0), c, atol=4 * 0.5 / np.sqrt(4000))  # 4 standard errors
        np.testing.assert_allclose(blob.std(0), 0.5, rtol=0.05)


def test_drawn_points_go_through_the_csv_path():
    cloud = spray(np.array([[1.0, 2.0], [3.0, -1.0]]), copies=30, std=0.1)
    data = load_csv(to_csv(cloud), name="drawn")
    assert len(data.train) + len(data.test) == 60
    both = np.concatenate([data.train, data.test])
    np.testing.assert_allclose(both.mean(0), 0, atol=1e-5)  # standardised like any CSV
    np.testing.assert_allclose(both.std(0), 1, atol=1e-4)


def test_typed_density_samples_match_its_moments():
    x = sample_energy("(x1**2 + x2**2)/2 + x1", 40_000, seed=0)  # N((-1, 0), I)
    se = 1 / np.sqrt(len(x))
    np.testing.assert_allclose(x.mean(0), [-1, 0], atol=5 * se)
    np.testing.assert_allclose(x.var(0), [1, 1], atol=5 * np.sqrt(2) * se)


def test_typed_density_rejects_code_and_unbounded_energies():
    for spec in ("__import__('os').system('ls')", "-3 * x1**2", "x3**2", "log(x1)"):
        with pytest.raises(UserError):
            sample_energy(spec, 10)


def test_a_typed_energy_is_a_dataset_by_name_the_same_for_the_same_seed():
    from genmodels.data import load_dataset
    from genmodels.setup import Setup

    a, b, c = (load_dataset("energy:(x1**2 + x2**2)/2 + x1", seed) for seed in (3, 3, 4))
    assert a.name == "energy:(x1**2 + x2**2)/2 + x1" and np.array_equal(a.train, b.train)
    assert not np.array_equal(a.train, c.train)
    assert np.allclose(a.train.mean(0), [-1, 0], atol=0.05) and np.allclose(a.train.std(0), [1, 1], atol=0.05)
    setup, problems = Setup.parse({"data": "energy:x1**"})
    assert setup.data == "moons" and "not a valid expression" in problems[0]
    with pytest.raises(UserError, match="under 300"):
        load_dataset("energy:" + "x1+" * 150)
