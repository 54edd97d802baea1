"""2D toy distributions with the conventions of FFJORD's toy set (Grathwohl et al. 2019).

Each sampler is ``sample(n, rng) -> float32 (n, 2)``. Mixtures of Gaussians also
expose their centres and standard deviation, so that their exact density
(``mixture_log_prob``) and the mode-coverage metric can use them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn import datasets as skd


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """Equal-weight isotropic mixture: p(x) = (1/K) sum_k N(x; mu_k, std^2 I)."""

    centres: np.ndarray  # (K, 2)
    std: float

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        k = rng.integers(len(self.centres), size=n)
        return (self.centres[k] + self.std * rng.standard_normal((n, 2))).astype(np.float32)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """Exact log p(x) by log-sum-exp over the K components."""
        sq = ((x[:, None, :] - self.centres[None]) ** 2).sum(-1)
        log_comp = -sq / (2 * self.std**2) - np.log(2 * np.pi * self.std**2)
        m = log_comp.max(1, keepdims=True)
        return (m + np.log(np.exp(log_comp - m).mean(1, keepdims=True)))[:, 0]


def _ring(k: int, radius: float) -> np.ndarray:
    angles = 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(angles), np.sin(angles)], 1)


def _grid(side: int, spacing: float) -> np.ndarray:
    ticks = spacing * (np.arange(side) - (side - 1) / 2)
    return np.stack(np.meshgrid(ticks, ticks), -1).reshape(-1, 2)


# FFJORD's 8 gaussians: centres on a circle of radius 4, std 0.5, all divided by 1.414.
EIGHT_GAUSSIANS = GaussianMixture(_ring(8, 4 / 1.414), 0.5 / 1.414)
# The narrow mixtures of the mode-collapse literature (VEEGAN, PacGAN).
RING8 = GaussianMixture(_ring(8, 2.0), 0.02)
GRID25 = GaussianMixture(_grid(5, 2.0), 0.02)
# A wider 25-gaussian grid for density estimation.
TWENTY_FIVE_GAUSSIANS = GaussianMixture(_grid(5, 2.0), 0.3)


def moons(n: int, rng: np.random.Generator) -> np.ndarray:
    x, _ = skd.make_moons(n, noise=0.1, random_state=_seed(rng))
    return (x * 2 + np.array([-1, -0.2])).astype(np.float32)


def circles(n: int, rng: np.random.Generator) -> np.ndarray:
    x, _ = skd.make_circles(n, factor=0.5, noise=0.08, random_state=_seed(rng))
    return (x * 3).astype(np.float32)


def swissroll(n: int, rng: np.random.Generator) -> np.ndarray:
    x, _ = skd.make_swiss_roll(n, noise=1.0, random_state=_seed(rng))
    return (x[:, [0, 2]] / 5).astype(np.float32)


def rings(n: int, rng: np.random.Generator) -> np.ndarray:
    """Four concentric circles of radii 3, 2.25, 1.5, 0.75 with N(0, 0.08^2) noise."""
    radius = 3 * rng.choice([1.0, 0.75, 0.5, 0.25], size=n)
    angle = rng.uniform(0, 2 * np.pi, size=n)
    x = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    return (x + 0.08 * rng.standard_normal((n, 2))).astype(np.float32)


def pinwheel(n: int, rng: np.random.Generator) -> np.ndarray:
    """Five arms: radial/tangential Gaussian features rotated by an angle growing with radius."""
    radial_std, tangential_std, arms, rate = 0.3, 0.1, 5, 0.25
    arm = rng.integers(arms, size=n)
    f = rng.standard_normal((n, 2)) * np.array([radial_std, tangential_std])
    f[:, 0] += 1
    angle = 2 * np.pi * arm / arms + rate * np.exp(f[:, 0])
    c, s = np.cos(angle), np.sin(angle)
    x = np.stack([f[:, 0] * c - f[:, 1] * s, f[:, 0] * s + f[:, 1] * c], 1)
    return (2 * x).astype(np.float32)


def two_spirals(n: int, rng: np.random.Generator) -> np.ndarray:
    half = n // 2
    t = np.sqrt(rng.uniform(size=(n - half, 1))) * 540 * (2 * np.pi) / 360
    arm = np.hstack([-np.cos(t) * t, np.sin(t) * t]) + rng.uniform(size=(n - half, 2)) * 0.5
    x = np.vstack([arm, -arm[:half]]) / 3
    return (x + 0.1 * rng.standard_normal(x.shape)).astype(np.float32)


def checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform on the 8 dark squares of a 4x4 board of side 8: entropy log 32 nats."""
    x1 = rng.uniform(size=n) * 4 - 2
    x2 = rng.uniform(size=n) - rng.integers(0, 2, size=n) * 2 + np.floor(x1) % 2
    return (2 * np.stack([x1, x2], 1)).astype(np.float32)


def checkerboard_log_prob(x: np.ndarray) -> np.ndarray:
    """log p(x) = -log 32 on the dark squares, -inf elsewhere."""
    u = x / 2
    inside = (np.abs(u) < 2).all(1)
    dark = (np.floor(u[:, 0]) + np.floor(u[:, 1])) % 2 == 0
    return np.where(inside & dark, -np.log(32.0), -np.inf)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))
