"""The data entropies that the benchmark's gaps use, checked against closed forms and independent estimates."""

import numpy as np
import pytest

from genmodels.data import load_dataset, mixture_entropy, toy2d


def gaussian_entropy_2d(std: float) -> float:
    """H(N(0, σ²I₂)) = 1 + log(2πσ²)."""
    return 1 + np.log(2 * np.pi * std**2)


def component_log_probs(mixture: toy2d.GaussianMixture, x: np.ndarray) -> np.ndarray:
    """log N(x; μ_k, σ²I) for every point and component, computed here from the definition."""
    sq = ((x[:, None, :] - mixture.centres[None]) ** 2).sum(-1)
    return -sq / (2 * mixture.std**2) - np.log(2 * np.pi * mixture.std**2)


def posterior_entropy(mixture: toy2d.GaussianMixture, n: int, seed: int) -> tuple[float, float]:
    """H(K | X) = E_x[-Σ_k r_k log r_k] with responsibilities r_k = p(k | x): estimate and standard error."""
    x = mixture.sample(n, np.random.default_rng(seed)).astype(np.float64)
    log_r = component_log_probs(mixture, x)
    log_r -= np.logaddexp.reduce(log_r, axis=1, keepdims=True)
    h = -(np.exp(log_r) * np.where(np.isfinite(log_r), log_r, 0)).sum(1)
    return float(h.mean()), float(h.std() / np.sqrt(n))


def test_single_gaussian_entropy_is_its_closed_form():
    std = 0.3
    one = toy2d.GaussianMixture(np.zeros((1, 2)), std)
    x = one.sample(100_000, np.random.default_rng(1))
    se = (-one.log_prob(x)).std() / np.sqrt(len(x))
    assert mixture_entropy(one) == pytest.approx(gaussian_entropy_2d(std), abs=4 * se)


def test_eight_gaussians_entropy_is_log_k_plus_component_entropy_less_overlap():
    """H(X) = H(K) + H(X | K) - H(K | X) = log 8 + 1 + log(2πσ²) - H(K | X), exactly.

    The dataset's entropy is a Monte Carlo mean of -log p(x); H(K | X) is estimated here on
    independent samples from the responsibilities, so the two sides share no computation.
    """
    mixture = toy2d.EIGHT_GAUSSIANS
    data = load_dataset("8gaussians")
    h_k_given_x, se_overlap = posterior_entropy(mixture, 100_000, seed=7)
    x = mixture.sample(100_000, np.random.default_rng(8))
    se_mc = (-mixture.log_prob(x)).std() / np.sqrt(100_000)
    separated = np.log(8) + gaussian_entropy_2d(mixture.std)
    assert 0 < h_k_given_x < 0.05  # the components barely overlap
    assert data.entropy == pytest.approx(separated - h_k_given_x, abs=4 * np.hypot(se_mc, se_overlap))
    assert gaussian_entropy_2d(mixture.std) < data.entropy < separated  # H(X|K) ≤ H(X) ≤ H(K) + H(X|K)


def test_checkerboard_is_uniform_on_area_32_so_its_entropy_is_log_32():
    """A uniform density on a region of area A has entropy log A; check the area and the uniformity."""
    data = load_dataset("checkerboard")
    rng = np.random.default_rng(3)
    box = rng.uniform(-4, 4, size=(400_000, 2))  # the board's bounding square, area 64
    inside = np.isfinite(data.log_prob(box))
    area, se = 64 * inside.mean(), 64 * inside.std() / np.sqrt(len(box))
    assert area == pytest.approx(32, abs=4 * se)
    # the samples fill all 128 half-unit cells of the 8 dark squares evenly: a uniform density
    cells = np.floor(data.train * 2).astype(int)  # cells of side 1/2: 16 in each dark square of side 2
    _, counts = np.unique(cells[:, 0] * 100 + cells[:, 1], return_counts=True)
    assert len(counts) == 8 * 16
    expected = len(data.train) / len(counts)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < len(counts) - 1 + 6 * np.sqrt(2 * (len(counts) - 1))  # mean + 6 sd of χ²(127)
    assert data.entropy == pytest.approx(np.log(32))
    assert -data.log_prob(data.test).mean() == pytest.approx(np.log(32))
