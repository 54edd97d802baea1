"""Held-out metrics shared by every family. Family-specific ones come from `model.metrics`.

Sample-based metrics compare N_EVAL model samples with the held-out data, so every
family (flows, VAEs, GANs) lands on one axis: sliced Wasserstein distance and MMD on
every dataset; on 2D data the KL and JS divergences between smoothed histograms on a
fixed grid; on Gaussian mixtures with known centres the mode coverage of the
mode-collapse literature (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018).
All functions below `evaluate` are pure numpy on (n, d) arrays.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from ..data import Dataset
from ..data.toy2d import GaussianMixture
from ..models import GenerativeModel

EVAL_BATCH = 4096
N_EVAL = 2500  # model samples per evaluation: the mode-coverage protocol's 2500
EVAL_SEED = 0
HIST_BINS, HIST_SMOOTH, HIST_FLOOR = 48, 1.0, 1e-6
N_PROJECTIONS = 128
MMD_SCALES = (0.125, 0.25, 0.5, 1.0)  # RBF bandwidths as fractions of the data's median distance


@torch.no_grad()
def test_nll(model: GenerativeModel, x: torch.Tensor) -> float:
    """Mean -log p(x) in nats per sample over the held-out set (exact likelihood models)."""
    return float(torch.cat([-model.log_prob(b) for b in x.split(EVAL_BATCH)]).mean())


def measure(model: GenerativeModel, data: Dataset) -> dict[str, float]:
    """The final metrics as numbers: the sample metrics every family shares, then the family's own (its
    held-out metrics and, last, the exact test_nll where there is one)."""
    x = torch.as_tensor(data.test, device=model.device)
    with torch.no_grad(), model.drawing_from(torch.Generator(model.device).manual_seed(EVAL_SEED)):
        x_model = model.sample(N_EVAL).reshape(N_EVAL, -1).cpu().double().numpy()
        out = sample_metrics(x_model, data) if model.fits_data else {}
        out.update(model.metrics(x))
        if model.has_log_prob and model.fits_data:
            out["test_nll"] = test_nll(model, x)
    return out


def evaluate(model: GenerativeModel, data: Dataset) -> dict[str, float | str]:
    """The final metrics that `train --json` reports: `measure`'s, the modes covered shown as "covered/total"."""
    out = measure(model, data)
    if "total" in out:
        out["modes"] = f"{out['modes']}/{out.pop('total')}"
    return out


def sample_metrics(x_model: np.ndarray, data: Dataset) -> dict[str, float]:
    """swd and mmd on every dataset; kl, reverse_kl, js on 2D data; on mixtures the modes covered (of
    `total`) and high_quality."""
    x_data = data.test.astype(np.float64)
    out: dict[str, float] = {}
    if data.mixture is not None:
        covered, high_quality = mode_coverage(x_model, data.mixture)
        out.update(modes=int(covered.sum()), total=len(covered), high_quality=high_quality)
    out["swd"] = sliced_wasserstein(x_data, x_model)
    out["mmd"] = mmd(x_data, x_model, median_distance(x_data) * np.array(MMD_SCALES))
    if data.dim == 2:
        out.update(histogram_divergences(x_data, x_model, histogram_edges(x_data)))
    return out


# -- mode coverage ----------------------------------------------------------------------------
def mode_coverage(x: np.ndarray, mixture: GaussianMixture, n_std: float = 3.0, min_count: int = 1
                  ) -> tuple[np.ndarray, float]:
    """(covered per mode, fraction of high-quality samples).

    A sample is high quality if it lies within `n_std` standard deviations of its nearest
    centre; a mode is covered if at least `min_count` high-quality samples (default 1: "any")
    have it as nearest centre. PacGAN's stricter protocol uses min_count = 20 of 2500.
    """
    dist = np.sqrt(((x[:, None, :] - mixture.centres[None]) ** 2).sum(-1))
    nearest, d = dist.argmin(1), dist.min(1)
    good = d <= n_std * mixture.std
    counts = np.bincount(nearest[good], minlength=len(mixture.centres))
    return counts >= min_count, float(good.mean()) if len(x) else 0.0


# -- histogram divergences on a fixed grid -------------------------------------------------------
def histogram_edges(x_data: np.ndarray, bins: int = HIST_BINS) -> np.ndarray:
    """(2, bins + 1) bin edges of a square grid over the data: 0.5-99.5 percentiles, 25% margin."""
    lo, hi = np.percentile(x_data, [0.5, 99.5], axis=0)
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * 1.25 + 0.1
    return np.stack([np.linspace(c - half, c + half, bins + 1) for c in centre])


def smoothed_histogram(x: np.ndarray, edges: np.ndarray, smooth: float = HIST_SMOOTH) -> np.ndarray:
    """Probabilities of the grid cells plus one 'outside the grid' cell, Gaussian-blurred by `smooth` bins
    and floored at HIST_FLOOR per cell so that KL stays finite."""
    h, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=(edges[0], edges[1]))
    h = gaussian_filter(h, smooth, mode="constant", cval=0.0) if smooth > 0 else h
    p = np.append(h.ravel(), len(x) - h.sum()).clip(0) / len(x)
    p = p + HIST_FLOOR
    return p / p.sum()


def kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) = Σ p log(p / q) for probability vectors."""
    return float(np.sum(p * np.log(p / q)))


def js(p: np.ndarray, q: np.ndarray) -> float:
    """JS(p, q) = ½ KL(p || m) + ½ KL(q || m), m = (p + q)/2; between 0 and log 2."""
    m = (p + q) / 2
    return (kl(p, m) + kl(q, m)) / 2


def histogram_divergences(x_data: np.ndarray, x_model: np.ndarray, edges: np.ndarray) -> dict[str, float]:
    """kl = KL(data || model) (large when modes are missed), reverse_kl = KL(model || data)
    (large for samples off the data), js, all between smoothed histograms on the same grid."""
    p, q = smoothed_histogram(x_data, edges), smoothed_histogram(x_model, edges)
    return {"kl": kl(p, q), "reverse_kl": kl(q, p), "js": js(p, q)}


# -- distances between samples --------------------------------------------------------------------
def sliced_wasserstein(x: np.ndarray, y: np.ndarray, n_projections: int = N_PROJECTIONS, seed: int = 0) -> float:
    """SW_1(x, y) = E_θ W_1(θᵀx, θᵀy) over directions θ uniform on the sphere (fixed seed).

    In 1D, W_1 between two equal-size empirical measures is the mean gap of the sorted
    values; the larger set is subsampled to the size of the smaller, at random rows (not its first
    ones: a data set stored in order, one spiral arm then the other, would lose a part).
    """
    rng = np.random.default_rng(seed)
    n = min(len(x), len(y))
    x, y = (a if len(a) == n else a[rng.choice(len(a), n, replace=False)] for a in (x, y))
    theta = rng.standard_normal((x.shape[1], n_projections))
    theta /= np.linalg.norm(theta, axis=0)
    return float(np.abs(np.sort(x @ theta, 0) - np.sort(y @ theta, 0)).mean())


def median_distance(x: np.ndarray, n: int = 1000) -> float:
    """The median pairwise distance of (the first n) points: the usual RBF bandwidth heuristic."""
    x = x[:n]
    d = np.sqrt(np.maximum(sq_distances(x, x), 0))
    return float(np.median(d[np.triu_indices(len(x), 1)]))


def sq_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x**2).sum(1)[:, None] + (y**2).sum(1)[None] - 2 * x @ y.T


def mmd(x: np.ndarray, y: np.ndarray, sigmas: np.ndarray | float, n: int = N_EVAL) -> float:
    """Biased (V-statistic) MMD with k(a, b) = mean_σ exp(-‖a - b‖² / 2σ²) (Gretton et al. 2012, eq. 5):

        MMD_b = sqrt( mean k(x, x') + mean k(y, y') - 2 mean k(x, y) )

    over (the first n of) each set. Non-negative, and zero only for equal empirical measures.
    """
    x, y = x[:n], y[:n]
    sigmas = np.atleast_1d(sigmas)

    def k(a, b):
        d2 = np.maximum(sq_distances(a, b), 0)
        return np.mean([np.exp(-d2 / (2 * s**2)).mean() for s in sigmas])

    return float(np.sqrt(max(k(x, x) + k(y, y) - 2 * k(x, y), 0.0)))
