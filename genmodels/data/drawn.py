"""Points a user draws or clicks: strokes on a canvas or clicks on a plot become a cloud of 2D points.

A stroke is thin, so every drawn point is sprayed into a small Gaussian blob; the
cloud then goes through the CSV path (`load_csv`: validated, standardised, split),
and its CSV text can be exported with the run.
"""

from __future__ import annotations

import numpy as np

BOX = 4.0  # canvas pixels map to [-BOX, BOX]^2 (the data are standardised afterwards anyway)


def canvas_points(objects: list[dict], width: int, height: int) -> np.ndarray:
    """(n, 2) points of Fabric.js canvas objects: every vertex of free-drawn paths, the centre of dots.

    Canvas pixels (y down) are mapped to [-BOX, BOX]^2 with y up; other shapes are ignored.
    """
    pixels = [p for obj in objects for p in _object_pixels(obj)]
    if not pixels:
        return np.empty((0, 2))
    px = np.asarray(pixels, dtype=np.float64)
    x = px[:, 0] / width * 2 * BOX - BOX
    y = BOX - px[:, 1] / height * 2 * BOX
    return np.stack([x, y], 1)


def _object_pixels(obj: dict) -> list[tuple[float, float]]:
    """Fabric.js 7 types 'Path' (absolute vertices) and 'Circle' (left/top at its origin); others: none."""
    kind = str(obj.get("type", "")).lower()
    if kind == "path":
        numbers = [v for command in obj.get("path", []) for v in command[1:] if isinstance(v, (int, float))]
        return list(zip(numbers[0::2], numbers[1::2]))
    if kind == "circle":
        r = float(obj.get("radius", 0))
        x = float(obj["left"]) + (r if obj.get("originX", "left") == "left" else 0.0)
        y = float(obj["top"]) + (r if obj.get("originY", "top") == "top" else 0.0)
        return [(x, y)]
    return []


def spray(points: np.ndarray, copies: int, std: float, seed: int = 0) -> np.ndarray:
    """`copies` points around each point, N(point, std^2 I): thin strokes become a density."""
    rng = np.random.default_rng(seed)
    centres = np.repeat(np.asarray(points, dtype=np.float64).reshape(-1, 2), copies, axis=0)
    return centres + std * rng.standard_normal(centres.shape)


def to_csv(points: np.ndarray) -> str:
    """CSV text with an x,y header, as `load_csv` reads it."""
    return "x,y\n" + "\n".join(f"{x:.5f},{y:.5f}" for x, y in points)
