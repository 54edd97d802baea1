"""EM for a Gaussian mixture: the notes' claims, checked numerically."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from genmodels.data import toy2d
from genmodels.lecture.em import GaussianMixtureEM


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return toy2d.EIGHT_GAUSSIANS.sample(1500, np.random.default_rng(0))


def test_log_joint_matches_scipy(x):
    em = GaussianMixtureEM(x, k=3, seed=1)
    em.step(), em.step()
    expected = np.stack([np.log(w) + multivariate_normal(m, c).logpdf(x[:50])
                         for w, m, c in zip(em.weights, em.means, em.covs)], 1)
    np.testing.assert_allclose(em.log_joint(x[:50]), expected, rtol=1e-10)


def test_log_likelihood_never_decreases(x):
    em = GaussianMixtureEM(x, k=8, seed=0)
    for _ in range(60):
        em.step()
    ll = np.array([h[2] for h in em.history])
    assert np.all(np.diff(ll) >= -1e-10)
    assert ll[-1] > ll[0] + 0.5


def test_elbo_equals_log_likelihood_after_e_step_and_bounds_it_otherwise(x):
    em = GaussianMixtureEM(x, k=8, seed=2)
    for _ in range(20):
        em.step()
    for _, step, ll, elbo in em.history:
        assert elbo <= ll + 1e-10
        if step == "E":
            assert elbo == pytest.approx(ll, abs=1e-10)
    gaps = [ll - elbo for _, step, ll, elbo in em.history if step == "M"]
    assert max(gaps) > 1e-4  # after an M-step q is stale: the gap is the KL to the new posterior


def test_m_step_maximises_elbo_for_fixed_responsibilities(x):
    """Perturbing the M-step's means, weights or covariances can only lower L(θ, q)."""
    em = GaussianMixtureEM(x, k=4, seed=3)
    em.e_step()
    em.m_step()
    best = em.elbo()
    rng = np.random.default_rng(0)
    for _ in range(5):
        saved = em.means.copy(), em.weights.copy(), em.covs.copy()
        em.means = em.means + 0.01 * rng.standard_normal(em.means.shape)
        w = em.weights * np.exp(0.01 * rng.standard_normal(len(em.weights)))
        em.weights = w / w.sum()
        em.covs = em.covs * 1.01
        assert em.elbo() < best
        em.means, em.weights, em.covs = saved


def test_state_has_what_the_app_draws(x):
    em = GaussianMixtureEM(x, k=5)
    em.step()
    s = em.state()
    assert s["ellipses"].shape == (5, 48, 2)
    assert s["responsibilities"].shape == (len(x), 5)
    np.testing.assert_allclose(s["responsibilities"].sum(1), 1)
    assert s["history"].shape == (2, 4)
    assert em.next_step == "M"
