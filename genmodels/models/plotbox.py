"""A square box around 2D points for plots: their central 98% plus a margin, with round edges.

Round edges (the half-width on a 1-1.25-1.5-2-2.5-3-4-5-6-8 ladder, the centre on a grid of an
eighth of it) keep a picture's axes where they were while the points move a little, frame to
frame; outliers stay outside (a plot pins them to its edge) instead of squashing the view.
"""

from __future__ import annotations

import numpy as np

LADDER = np.array([1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0])


def square_box(points: np.ndarray, margin: float = 0.15) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) of a square holding the points' 1st-99th percentile box widened by `margin`."""
    lo, hi = np.percentile(np.asarray(points, np.float64), [1, 99], axis=0)
    half = max(float((hi - lo).max()) / 2 * (1 + margin), 1e-3)
    power = 10.0 ** np.floor(np.log10(half))
    half = float(power * LADDER[np.searchsorted(LADDER, half / power - 1e-12)])
    centre = np.round((lo + hi) / 2 / (half / 8)) * (half / 8)
    return (centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half)
