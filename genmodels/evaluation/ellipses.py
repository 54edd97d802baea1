"""Outlines of Gaussian level sets, for drawing a Gaussian's mean and covariance as an ellipse."""

from __future__ import annotations

import numpy as np


def ellipses(means: np.ndarray, covs: np.ndarray, n_std: float = 2.0, points: int = 48) -> np.ndarray:
    """Closed outlines (n, points, 2) of {x : (x-m)^T Σ^{-1} (x-m) = n_std²} for 2D means (n, 2), Σ (n, 2, 2).

    With Σ = L L^T (Cholesky), the level set is m + n_std L u for unit vectors u.
    """
    t = np.linspace(0, 2 * np.pi, points)
    u = np.stack([np.cos(t), np.sin(t)])  # (2, points)
    chol = np.linalg.cholesky(covs + 1e-12 * np.eye(2))
    return means[:, None, :] + n_std * np.einsum("nij,jp->npi", chol, u)
