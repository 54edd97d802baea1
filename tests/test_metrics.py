"""Sample-based metrics: mode coverage, histogram KL/JS, sliced Wasserstein, MMD; checked on hand-made sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genmodels.data.toy2d import EIGHT_GAUSSIANS, GRID25, RING8, GaussianMixture
from genmodels.evaluation.metrics import (
    histogram_divergences,
    histogram_edges,
    js,
    kl,
    mmd,
    mode_coverage,
    sample_metrics,
    sliced_wasserstein,
)
from genmodels.evaluation.theory import sample_quality


def rng(seed=0):
    return np.random.default_rng(seed)


# -- mode coverage -------------------------------------------------------------------------------
@pytest.mark.parametrize("mixture", [RING8, GRID25])
def test_every_mode_hit_is_full_coverage(mixture):
    x = np.repeat(mixture.centres, 3, axis=0) + 0.5 * mixture.std * rng().standard_normal((3 * len(mixture.centres), 2))
    covered, high_quality = mode_coverage(x, mixture)
    assert covered.all() and high_quality == 1.0


def test_one_mode_is_one_covered():
    x = RING8.centres[3] + RING8.std * rng().uniform(-1, 1, (2500, 2))
    covered, high_quality = mode_coverage(x, RING8)
    assert covered.sum() == 1 and covered[3] and high_quality == 1.0


def test_off_mode_noise_covers_nothing():
    """The origin and the midpoints between ring centres are > 3 std from every centre."""
    mid = (RING8.centres + np.roll(RING8.centres, 1, axis=0)) / 2
    x = np.vstack([np.zeros((10, 2)), mid])
    covered, high_quality = mode_coverage(x, RING8)
    assert covered.sum() == 0 and high_quality == 0.0


def test_high_quality_threshold_is_three_std_and_min_count_applies():
    c, s = RING8.centres[0], RING8.std
    x = np.array([c + [2.99 * s, 0], c + [3.01 * s, 0], RING8.centres[1]])
    covered, high_quality = mode_coverage(x, RING8)
    assert covered.sum() == 2 and high_quality == pytest.approx(2 / 3)
    assert mode_coverage(x, RING8, min_count=2)[0].sum() == 0


def test_data_samples_are_high_quality_at_the_rayleigh_rate():
    """For an isotropic 2D Gaussian P(‖x - μ‖ ≤ 3σ) = 1 - exp(-9/2) (a chi distribution with 2 dof)."""
    n = 20_000
    _, high_quality = mode_coverage(GRID25.sample(n, rng()), GRID25)
    p = 1 - math.exp(-4.5)
    assert abs(high_quality - p) < 4 * math.sqrt(p * (1 - p) / n)


# -- histogram divergences --------------------------------------------------------------------------
def test_kl_and_js_hand_values():
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    assert kl(p, q) == pytest.approx(0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1))
    m = np.array([0.7, 0.3])
    assert js(p, q) == pytest.approx(0.5 * (kl(p, m) + kl(q, m)))
    assert js(np.array([1.0, 0.0]) + 1e-300, np.array([0.0, 1.0]) + 1e-300) == pytest.approx(math.log(2))


def test_histogram_divergences_zero_for_same_sample_small_for_same_law_large_when_shifted():
    x = EIGHT_GAUSSIANS.sample(5000, rng(0))
    edges = histogram_edges(x)
    same = histogram_divergences(x, x, edges)
    assert all(abs(v) < 1e-12 for v in same.values())
    fresh = histogram_divergences(x, EIGHT_GAUSSIANS.sample(5000, rng(1)), edges)
    shifted = histogram_divergences(x, EIGHT_GAUSSIANS.sample(5000, rng(1)) + [1.0, 0.0], edges)
    for key in ("kl", "reverse_kl", "js"):
        assert 0 < fresh[key] < shifted[key] / 10
    assert shifted["js"] <= math.log(2)


def test_missing_modes_show_in_forward_kl_more_than_reverse_kl():
    """Mode dropping: KL(data || model) is large, KL(model || data) small (the model's mass sits on data)."""
    x = RING8.sample(5000, rng(0))
    half = GaussianMixture(RING8.centres[:4], RING8.std).sample(5000, rng(1))
    d = histogram_divergences(x, half, histogram_edges(x))
    assert d["kl"] > 3 * d["reverse_kl"]


# -- sliced Wasserstein and MMD ------------------------------------------------------------------------
def test_swd_same_law_small_shift_recovers_mean_projection():
    """For y = x + s exactly, W1 of every projection is |θᵀs|, so SW1 = E|θᵀs| = 2|s|/π in 2D."""
    x = rng(0).standard_normal((2000, 2))
    assert sliced_wasserstein(x, rng(1).standard_normal((2000, 2))) < 0.1
    s = np.array([3.0, 4.0])
    assert sliced_wasserstein(x, x + s) == pytest.approx(2 * 5 / math.pi, rel=0.1)
    assert sliced_wasserstein(2 * x, 2 * (x + s)) == pytest.approx(2 * sliced_wasserstein(x, x + s))


def test_sliced_wasserstein_of_a_set_stored_in_order_compares_all_of_it():
    """The larger set is subsampled at random rows: a sample stored one half after the other (two spiral arms)
    against a shuffled copy of itself is near 0, as its first rows alone (one half) would not be."""
    r = rng(3)
    ordered = np.concatenate([r.normal(size=(3000, 2)) - 3, r.normal(size=(3000, 2)) + 3])
    assert sliced_wasserstein(ordered, r.permutation(ordered)[:2000]) < 0.15


def test_mmd_matches_hand_computation():
    x, y, sigma = np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 2.0]]), 1.5

    def k(a, b):
        return math.exp(-((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) / (2 * sigma**2))

    kxx = sum(k(a, b) for a in x for b in x) / 4
    kyy = 1.0
    kxy = sum(k(a, b) for a in x for b in y) / 2
    assert mmd(x, y, sigma) == pytest.approx(math.sqrt(kxx + kyy - 2 * kxy))
    two = mmd(x, y, np.array([sigma, 2 * sigma]))
    assert 0 < two and mmd(x, x, sigma) == pytest.approx(0.0, abs=1e-7)


def test_mmd_small_for_same_law_larger_when_shifted():
    x, y = rng(0).standard_normal((1000, 2)), rng(1).standard_normal((1000, 2))
    assert mmd(x, y, 1.0) < 0.1 < mmd(x, y + [1.0, 0.0], 1.0)


# -- evaluate's sample metrics on a dataset ------------------------------------------------------------
def test_sample_metrics_of_data_itself_on_ring8():
    from genmodels.data import load_dataset

    data = load_dataset("ring8")
    perfect = sample_metrics(RING8.sample(2500, rng(7)).astype(np.float64), data)
    collapsed = sample_metrics(np.repeat(RING8.centres[:1], 2500, axis=0), data)
    assert (perfect["modes"], perfect["total"]) == (8, 8) and perfect["high_quality"] > 0.97
    assert (collapsed["modes"], collapsed["total"]) == (1, 8) and collapsed["high_quality"] == 1.0
    for key in ("swd", "mmd", "kl", "js"):
        assert perfect[key] < collapsed[key] / 5


def test_sample_quality_of_collapsed_and_perfect_samples():
    from genmodels.data import load_dataset

    data = load_dataset("ring8")
    collapsed = sample_quality(np.repeat(RING8.centres[:1], 2500, axis=0), data)
    perfect = sample_quality(RING8.sample(2500, rng(2)), data)
    assert (collapsed["modes"], perfect["modes"], perfect["total"]) == (1, 8, 8)
    assert collapsed["js"] > 10 * perfect["js"]


def test_evaluate_reports_swd_for_a_flow():
    from genmodels.data import load_dataset
    from genmodels.evaluation.metrics import evaluate
    from genmodels.models import MODELS

    data = load_dataset("moons")
    torch.manual_seed(0)
    model = MODELS["realnvp"](MODELS["realnvp"].Config(layers=2, hidden=8), data.dim)
    out = evaluate(model, data)
    assert {"test_nll", "swd", "mmd", "kl", "reverse_kl", "js"} <= set(out) and "modes" not in out


def test_evaluate_shows_the_modes_that_measure_counts_in_their_place():
    from genmodels.data import load_dataset
    from genmodels.evaluation.metrics import evaluate, measure
    from genmodels.models import MODELS

    data = load_dataset("ring8")
    model = MODELS["realnvp"](MODELS["realnvp"].Config(layers=2, hidden=8), data.dim)
    counted, shown = measure(model, data), evaluate(model, data)
    assert counted["total"] == 8 and shown["modes"] == f"{counted['modes']}/8"
    assert list(shown) == [k for k in counted if k != "total"]  # the CLI prints them in this order
    assert all(shown[k] == counted[k] for k in shown if k != "modes")
