"""The VAE's claims from the notes, each checked against an independent computation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from genmodels.config import TrainConfig, build_config
from genmodels.data import load_dataset
from genmodels.errors import UserError
from genmodels.evaluation.ellipses import ellipses
from genmodels.evaluation.estimators import estimator_gradients, gradient_variance
from genmodels.hosting.trainer import Trainer
from genmodels.models import MODELS
from genmodels.models.vaes.likelihoods import Bernoulli, ContinuousBernoulli, Gaussian
from genmodels.models.vaes.vae import VAE, VAEConfig, diagonal_normal_log_prob, gaussian_kl


def vae(dim=2, shape=(), **settings) -> VAE:
    return VAE(build_config(VAEConfig, {"hidden": 32, "variance_every": 0, **settings}), dim, shape)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", 0)


# -- closed forms ------------------------------------------------------------------------------------
def test_closed_form_kl_equals_monte_carlo_kl():
    """E_q[log q(z|x) - log p(z)] by 20,000 draws per point, through the model's own MC estimate."""
    torch.manual_seed(0)
    model = vae(dim=3, latent=4, kl_estimate="mc").double()
    x = torch.randn(6, 3, dtype=torch.float64) * 2
    draws = 20_000
    with torch.no_grad():
        _, kl_mc = model.elbo_terms(x.repeat(draws, 1), "total", "mc")
        q = model.encode(x)
        kl = gaussian_kl(q.mu, q.log_std)
    kl_mc = kl_mc.view(draws, len(x))
    se = kl_mc.std(0) / math.sqrt(draws)
    assert torch.all((kl_mc.mean(0) - kl).abs() < 3 * se), (kl_mc.mean(0), kl, se)


@pytest.mark.parametrize("logit", [-6.0, -1.0, -1e-3, 0.0, 0.7, 5.0])
def test_continuous_bernoulli_is_normalised(logit):
    x = torch.linspace(0, 1, 20_001, dtype=torch.float64)[:, None]
    density = ContinuousBernoulli().log_prob(x, torch.full_like(x, logit)).exp()
    assert torch.trapezoid(density, x[:, 0]).item() == pytest.approx(1.0, abs=1e-6)


def test_gaussian_and_bernoulli_log_probs_match_torch():
    torch.manual_seed(0)
    x, params = torch.randn(5, 3), torch.randn(5, 6)
    mean, log_std = params.chunk(2, -1)
    expected = torch.distributions.Normal(mean, log_std.exp()).log_prob(x).sum(-1)
    torch.testing.assert_close(Gaussian().log_prob(x, params), expected)
    bits, logits = torch.randint(0, 2, (5, 3)).float(), torch.randn(5, 3)
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(bits).sum(-1)
    torch.testing.assert_close(Bernoulli().log_prob(bits, logits), expected)


def test_ellipses_lie_on_the_level_set():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 2, 2))
    covs, means = a @ a.transpose(0, 2, 1) + 0.1 * np.eye(2), rng.standard_normal((4, 2))
    diff = ellipses(means, covs, n_std=2.0) - means[:, None]
    mahalanobis = np.einsum("npi,nij,npj->np", diff, np.linalg.inv(covs), diff)
    np.testing.assert_allclose(mahalanobis, 4.0, rtol=1e-6)


# -- IWAE ----------------------------------------------------------------------------------------------
def test_iwae_bound_is_above_elbo_and_grows_with_k(digits):
    """Burda et al.: L_1 = ELBO ≤ L_k ≤ L_m for k ≤ m, in expectation; paired over 297 test digits.
    The encoder's σ is tripled so that q is far from the posterior and the gaps are wide."""
    torch.manual_seed(0)
    model = vae(dim=64, shape=(1, 8, 8), latent=2)
    with torch.no_grad():
        model.encoder[-1].bias[2:] += math.log(3.0)
    x = torch.as_tensor(digits.test)
    elbo, iwae = {}, {}
    for k in (1, 10, 100):
        torch.manual_seed(k)
        elbo[k], iwae[k] = model.bounds(x, k)
    assert torch.all(iwae[100] >= elbo[100])  # Jensen on the same draws, point by point
    torch.testing.assert_close(iwae[1], elbo[1])
    for small, big in ((1, 10), (10, 100)):
        gain = iwae[big] - iwae[small]
        assert gain.mean() > 3 * gain.std() / math.sqrt(len(gain)), (small, big, gain.mean())


# -- the two gradient estimators (Roeder et al. 2017) ------------------------------------------------------
SIGMA_X = 0.5


def linear_gaussian_vae(perturb: float = 0.0) -> tuple[VAE, torch.Tensor]:
    """p(z) = N(0, I), p(x|z) = N(Wz + b, σ² I) with orthogonal columns of W, so the exact posterior
    N(S W^T (x - b) / σ², S), S = (I + W^T W / σ²)^{-1}, is diagonal: a linear encoder can equal it."""
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    w = q[:, :2] * torch.tensor([1.5, 0.7], dtype=torch.float64)
    b = torch.randn(3, generator=gen, dtype=torch.float64)
    s = torch.linalg.inv(torch.eye(2, dtype=torch.float64) + w.T @ w / SIGMA_X**2)
    c = s @ w.T / SIGMA_X**2
    model = vae(dim=3, latent=2, kl_estimate="mc").double()
    model.encoder, model.decoder = nn.Linear(3, 4).double(), nn.Linear(2, 6).double()
    with torch.no_grad():
        model.decoder.weight.copy_(torch.cat([w, torch.zeros(3, 2, dtype=torch.float64)]))
        model.decoder.bias.copy_(torch.cat([b, torch.full((3,), math.log(SIGMA_X), dtype=torch.float64)]))
        model.encoder.weight.copy_(torch.cat([c, torch.zeros(2, 3, dtype=torch.float64)]))
        model.encoder.bias.copy_(torch.cat([-c @ b, 0.5 * torch.log(torch.diagonal(s))]))
        for p in model.encoder.parameters():
            p.add_(perturb * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    x = (torch.randn(16, 2, generator=gen, dtype=torch.float64) @ w.T + b
         + SIGMA_X * torch.randn(16, 3, generator=gen, dtype=torch.float64))
    return model, x


def exact_elbo_gradient(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """∇_φ of the ELBO in closed form for the linear-Gaussian model:
    E_q ||x - Wz - b||² = ||x - Wμ - b||² + Σ_j ||W_j||² s_j²."""
    mu, log_std, _ = model.encode(x)
    w, b = model.decoder.weight[:3], model.decoder.bias[:3]
    sq = ((x - mu @ w.T - b) ** 2).sum(-1) + (torch.exp(2 * log_std) * (w**2).sum(0)).sum(-1)
    recon = -0.5 * sq / SIGMA_X**2 - 3 * math.log(SIGMA_X) - 1.5 * math.log(2 * math.pi)
    elbo = (recon - gaussian_kl(mu, log_std)).mean()
    return torch.cat([g.flatten() for g in torch.autograd.grad(elbo, list(model.variational_parameters().values()))])


def test_both_estimators_are_unbiased():
    model, x = linear_gaussian_vae(perturb=0.3)
    exact = exact_elbo_gradient(model, x)
    torch.manual_seed(0)
    for estimator in ("total", "path", "closed"):
        g = estimator_gradients(model, x, 3000, estimator)
        z = (g.mean(0) - exact) / (g.std(0) / math.sqrt(len(g)))
        assert z.abs().max() < 4.5, (estimator, z)  # 14 coordinates, no one beyond 4.5 standard errors


def test_path_derivative_has_zero_variance_at_the_exact_posterior():
    """At q = p(z|x), log p(x, z) - log q(z|x) = log p(x) for every z: each path-derivative draw is
    exactly zero, while the total derivative keeps the zero-mean score term -∇_φ log q(z|x)."""
    model, x = linear_gaussian_vae()
    torch.manual_seed(0)
    path = estimator_gradients(model, x, 200, "path")
    total = estimator_gradients(model, x, 200, "total")
    assert path.abs().max() < 1e-12
    assert total.var(0).mean() > 1e-3
    assert total.mean(0).abs().max() < 4 * total.std(0).max() / math.sqrt(200)  # the optimum: zero mean


def test_path_derivative_variance_vanishes_as_q_approaches_the_posterior():
    """The PD/TD variance ratio falls towards 0 as the encoder nears the exact posterior (about 1, 0.6, 0.07)."""
    ratios = []
    for perturb in (0.3, 0.1, 0.03):
        v = gradient_variance(*linear_gaussian_vae(perturb), draws=2000)
        ratios.append(v["path"] / v["total"])
    assert ratios[0] > ratios[1] > ratios[2]
    assert ratios[2] < 0.2


def test_path_and_total_coincide_with_the_closed_form_kl():
    """With the analytic KL there is no sampled log q, so stopping its gradient changes nothing."""
    model, x = linear_gaussian_vae(perturb=0.3)
    grads = []
    for estimator in ("total", "path"):
        torch.manual_seed(1)
        recon, kl = model.elbo_terms(x, estimator, "closed")
        grads.append(torch.autograd.grad((recon - kl).mean(), list(model.variational_parameters().values())))
    for total, path in zip(*grads):
        torch.testing.assert_close(total, path)


# -- the model ---------------------------------------------------------------------------------------------
def test_objectives_are_the_terms_of_the_elbo():
    torch.manual_seed(0)
    x = torch.randn(32, 2)
    for objective in ("elbo", "reconstruction", "kl"):
        torch.manual_seed(0)
        out = vae(objective=objective, beta=2.0).loss(x)
        torch.testing.assert_close(out["elbo"], out["recon"] - out["kl"])
        expected = {"elbo": -(out["recon"] - 2.0 * out["kl"]), "reconstruction": -out["recon"], "kl": out["kl"]}
        torch.testing.assert_close(out["loss"], expected[objective])


def test_kl_only_objective_leaves_the_decoder_untouched():
    model = vae(objective="kl")
    model.loss(torch.randn(8, 2))["loss"].backward()
    assert all(p.grad is None for p in model.decoder.parameters())
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_closed_kl_needs_the_gaussian_prior_and_posterior():
    for settings in ({"prior": "realnvp"}, {"posterior": "iaf"}):
        with pytest.raises(UserError, match="kl_estimate=mc"):
            vae(**settings)


def test_flow_prior_reuses_realnvp_and_enters_the_kl():
    torch.manual_seed(0)
    model = vae(latent=3, prior="realnvp", kl_estimate="mc", prior_layers=2)
    assert type(model.prior) is MODELS["realnvp"]
    z = torch.randn(4, 5, 3)
    torch.testing.assert_close(model.prior_log_prob(z), model.prior.log_prob(z.reshape(-1, 3)).view(4, 5))
    out = model.loss(torch.randn(16, 2))
    out["loss"].backward()
    assert all(p.grad is not None for p in model.prior.parameters())
    assert model.sample(7).shape == (7, 2)


def iaf_vae() -> tuple[VAE, torch.Tensor]:
    """A random IAF posterior, its gates and shifts moved away from the identity initialisation."""
    torch.manual_seed(0)
    model = vae(latent=2, posterior="iaf", kl_estimate="mc", hidden=16).double()
    with torch.no_grad():
        for layer in model.posterior_flow.layers:
            layer.made.out.weight.normal_(0, 0.3)
    return model, torch.randn(8, 2, dtype=torch.float64)


def test_iaf_posterior_log_q_is_a_normalised_density():
    """log q at its own samples (forward log-dets) equals log q via the inverse; exp(log q) integrates to 1."""
    model, x = iaf_vae()
    q = model.encode(x[:1])
    with torch.no_grad():
        z, log_q = model.posterior_sample(q, 5)
        g = torch.linspace(-8, 8, 401, dtype=torch.float64)
        grid = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)
        h = q.h.expand(len(grid), -1)
        z_0, log_det = model.posterior_flow.stopped_inverse(grid, h)
        density = torch.exp(diagonal_normal_log_prob(z_0, q.mu, q.log_std) + log_det)
        z_0, log_det = model.posterior_flow.stopped_inverse(z[:, 0], q.h.expand(5, -1))
    torch.testing.assert_close(diagonal_normal_log_prob(z_0, q.mu, q.log_std) + log_det, log_q[:, 0])
    assert float(density.sum() * (g[1] - g[0]) ** 2) == pytest.approx(1.0, abs=1e-3)


def test_iaf_posterior_views_use_its_moments():
    model, x = iaf_vae()
    model.set_probe(x)
    v = model.visuals(None)
    assert v["latent_points"].shape == (8, 2) and np.isfinite(v["latent_ellipses"]).all()


def test_iaf_log_det_matches_autograd_jacobian():
    model, x = iaf_vae()
    h = model.encode(x).h
    z = torch.randn(8, 2, dtype=torch.float64)
    _, log_det = model.posterior_flow(z, h)
    for i in range(len(z)):
        def flow(v, h_i=h[i : i + 1]):
            return model.posterior_flow(v[None], h_i)[0][0]

        torch.testing.assert_close(log_det[i], torch.linalg.slogdet(torch.autograd.functional.jacobian(flow, z[i]))[1])


def test_path_derivative_is_unbiased_with_the_iaf_posterior():
    """Same draws for both: the estimates differ draw by draw (the score term), not in the mean."""
    model, x = iaf_vae()
    g = {}
    for estimator in ("total", "path"):
        torch.manual_seed(0)
        g[estimator] = estimator_gradients(model, x, 2000, estimator)
    score = g["total"] - g["path"]
    assert score.abs().max() > 1e-2
    z = score.mean(0) / (score.std(0) / math.sqrt(2000)).clamp(min=1e-12)
    assert z.abs().max() < 5, z.abs().max()  # a few hundred coordinates, each a zero-mean score


@pytest.mark.parametrize("likelihood", ["bernoulli", "cbernoulli"])
def test_conv_vae_on_28x28_images(likelihood):
    torch.manual_seed(0)
    model = vae(dim=784, shape=(1, 28, 28), image_likelihood=likelihood, latent=5)
    assert isinstance(model.encoder[1], nn.Conv2d)
    x = torch.rand(6, 784)
    model.set_probe(x)
    out = model.loss(x)
    assert torch.isfinite(out["loss"])
    v = model.visuals(None)
    assert v["latent_grid"].shape == (15 * 15, 28, 28)
    assert v["inputs"].shape == v["reconstructions"].shape == (6, 28, 28)
    assert v["interpolation"].shape == (10, 28, 28)
    assert v["latent_points"].shape == (6, 2)  # a PCA plane of the 5-d latent


def test_latent_grid_spans_the_prior_even_when_the_codes_collapse():
    model = vae(latent=2)
    with torch.no_grad():
        model.encoder[-1].weight.zero_()
        model.encoder[-1].bias.zero_()  # every x encoded to N(0, I): all means at the origin
    model.set_probe(torch.randn(50, 2))
    v = model.visuals(None)
    assert np.all(v["latent_points"] == 0)
    for axis in (v["latent_grid_u"], v["latent_grid_v"]):
        assert axis[0] < -2 and axis[-1] > 2  # the prior's 1% and 99% quantiles are ±2.33


def test_trainer_publishes_the_vae_views_and_variance_history():
    data = load_dataset("moons", 0)
    config = build_config(VAEConfig, {"hidden": 16, "variance_every": 3})
    trainer = Trainer(lambda: VAE(config, 2, data.shape), data, TrainConfig(steps=7, batch_size=64), device="cpu",
                      visual_interval=0.0)
    snap = trainer.run(7)
    assert {"loss", "elbo", "recon", "kl"} <= set(snap.history)
    v = snap.visuals
    assert v["latent_grid"].shape == (21, 21, 2) and v["samples"].shape == (1000, 2)
    assert v["latent_points"].shape == (1000, 2) and v["latent_ellipses"].shape == (12, 48, 2)
    np.testing.assert_array_equal(v["grad_variance"][:, 0], [1, 3, 6])
    assert np.all(v["grad_variance"][:, 1:] > 0)


def test_vae_on_digits_beats_the_pixel_marginal_baseline(digits):
    """A VAE whose decoder ignores z is at best the product of per-pixel Bernoullis with the training
    means: mean test log-likelihood -27.08 nats (measured here). 300 steps of a small VAE
    (latent 2, hidden 64) beat it by 1.7 nats."""
    p = np.clip(digits.train.mean(0), 1e-6, 1 - 1e-6)
    x = digits.test
    baseline = float((x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1).mean())
    assert baseline == pytest.approx(-27.08, abs=0.01)
    config = build_config(VAEConfig, {"hidden": 64, "variance_every": 0, "iwae_k": 20})
    trainer = Trainer(lambda: VAE(config, 64, digits.shape), digits, TrainConfig(steps=300, batch_size=128, lr=3e-3),
                      device="cpu", visual_interval=None)
    trainer.run(300)
    metrics = trainer.model.metrics(torch.as_tensor(digits.test))
    assert metrics["test_elbo"] > baseline + 1  # -25.40 measured
    assert metrics["test_nll"] <= -metrics["test_elbo"]


def test_cli_reports_test_elbo_and_iwae_nll(train_json):
    out = train_json("--model", "vae", "--data", "digits", "--steps", "20", "--hidden", "16", "--iwae_k", "8")
    assert out["iwae_k"] == 8 and out["test_nll"] <= -out["test_elbo"]


def test_config_defaults_are_valid_and_named_apart_from_training():
    names = {f.name for f in dataclasses.fields(VAEConfig)}
    assert not names & ({f.name for f in dataclasses.fields(TrainConfig)} | {"data", "model"})
    assert MODELS["vae"] is VAE
