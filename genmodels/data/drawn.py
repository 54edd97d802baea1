"""Points a user draws or clicks: strokes on a canvas or clicks on a plot become a cloud of 2D points.

A stroke is thin, so every drawn point is sprayed into a small Gaussian blob; the
cloud then goes through the CSV path (`load_csv`: validated, standardised, split),
and its CSV text can be exported with the run.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..config import shown
from ..errors import UserError

BOX = 4.0  # canvas pixels map to [-BOX, BOX]^2 (the data are standardised afterwards anyway)


def canvas_points(objects: Any, width: int, height: int, max_points: int) -> np.ndarray:
    """(n, 2) points of Fabric.js canvas objects: every vertex of free-drawn paths, the centre of dots.

    Canvas pixels (y down) are mapped to [-BOX, BOX]^2 with y up; other shapes are ignored.
    The points are counted before any is read, so a drawing of more than `max_points` is
    refused at once; anything that is not a list of Fabric.js objects is a UserError.
    """
    if not isinstance(objects, list) or not all(isinstance(obj, dict) for obj in objects):
        raise UserError("the canvas sent something that is not a drawing; clear it and draw again")
    n = sum(_vertex_bound(obj) for obj in objects)
    if n > max_points:
        raise UserError(f"the drawing has {n:,} points; at most {max_points:,} are allowed here (each becomes a blob "
                        "of points): draw fewer or shorter strokes")
    pixels = [p for i, obj in enumerate(objects, 1) for p in _object_pixels(obj, i)]
    if not pixels:
        return np.empty((0, 2))
    px = np.asarray(pixels, dtype=np.float64)
    x = px[:, 0] / width * 2 * BOX - BOX
    y = BOX - px[:, 1] / height * 2 * BOX
    return np.stack([x, y], 1)


def _kind(obj: dict) -> str:
    kind = obj.get("type")
    return kind.lower() if isinstance(kind, str) else ""


def _vertex_bound(obj: dict) -> int:
    """At least the number of points `_object_pixels` returns, counted without reading them."""
    path = obj.get("path")
    if _kind(obj) == "path" and isinstance(path, list):
        return sum(len(command) // 2 for command in path if isinstance(command, list))
    return int(_kind(obj) == "circle")


def _object_pixels(obj: dict, i: int) -> list[tuple[float, float]]:
    """Fabric.js 7 types 'Path' (absolute vertices) and 'Circle' (left/top at its origin); others: none."""
    kind = _kind(obj)
    if kind == "path":
        path = obj.get("path")
        if not isinstance(path, list) or not all(isinstance(c, list) and c and isinstance(c[0], str) for c in path):
            raise UserError(f"canvas object {i} is a path without a list of drawing commands; clear the canvas")
        numbers = [_finite(v, i) for command in path for v in command[1:]]
        return list(zip(numbers[0::2], numbers[1::2]))
    if kind == "circle":
        r = _finite(obj.get("radius", 0), i)
        x = _finite(obj.get("left"), i) + (r if obj.get("originX", "left") == "left" else 0.0)
        y = _finite(obj.get("top"), i) + (r if obj.get("originY", "top") == "top" else 0.0)
        return [(x, y)]
    return []


def _finite(value: Any, i: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        what = shown(value) if isinstance(value, (int, float, str)) else f"a {type(value).__name__}"
        what = "nothing" if value is None else what
        raise UserError(f"canvas object {i} has {what} where a finite coordinate belongs; clear the canvas")
    return float(value)


def spray(points: np.ndarray, copies: int, std: float, seed: int = 0) -> np.ndarray:
    """`copies` points around each point, N(point, std^2 I): thin strokes become a density."""
    rng = np.random.default_rng(seed)
    centres = np.repeat(np.asarray(points, dtype=np.float64).reshape(-1, 2), copies, axis=0)
    return centres + std * rng.standard_normal(centres.shape)


def to_csv(points: np.ndarray) -> str:
    """CSV text with an x,y header, as `load_csv` reads it."""
    return "x,y\n" + "\n".join(f"{x:.5f},{y:.5f}" for x, y in points)
