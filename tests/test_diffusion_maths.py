"""The diffusion family's maths against closed forms for Gaussian data, autograd Jacobians and brute force.

For data x ~ N(μ, Σ) every path of the family stays Gaussian, so the optimal fields are known:
flow matching's E[x1 - x0 | x_t], DDPM's and the score model's E[ε | x_t]. The losses at those
fields are their minima, the probability-flow likelihood of the exact field is log N(x; μ, Σ), and DDPM's
variational bound exceeds -log N(x; μ, Σ) by the KLs of the model's reverse kernels to the true ones.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from genmodels.models import MODELS
from genmodels.models.diffusion import ode
from genmodels.models.diffusion.ddpm import alpha_bars, epsilon_loss, prior_kl
from genmodels.models.diffusion.flow_matching import cfm_loss, ot_pairing
from genmodels.models.diffusion.langevin import langevin
from genmodels.models.diffusion.score import dsm_loss
from genmodels.models.diffusion.time_mlp import FREQUENCIES, TimeMLP, sinusoids, time_features
from genmodels.models.nets import mlp

MU = torch.tensor([1.0, -0.5], dtype=torch.float64)
SIGMA = torch.tensor([[0.6, 0.3], [0.3, 1.5]], dtype=torch.float64)
I2 = torch.eye(2, dtype=torch.float64)


def gaussian_data(n: int, seed: int) -> torch.Tensor:
    z = torch.randn(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return MU + z @ torch.linalg.cholesky(SIGMA).T


def exact_log_prob(x: torch.Tensor) -> torch.Tensor:
    return torch.distributions.MultivariateNormal(MU, SIGMA).log_prob(x)


def rows(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Each row of v times the symmetric matrix m (one per row, or one for all)."""
    return (m @ v[..., None])[..., 0]


# -- the exact fields -------------------------------------------------------------------------------
def fm_velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """E[x1 - x0 | x_t = x] = μ + A C⁻¹ (x - t μ), C = (1-t)² I + t² Σ, A = Cov(x1 - x0, x_t) = t Σ - (1-t) I."""
    t = torch.as_tensor(t, dtype=x.dtype).expand(len(x))[:, None, None]
    c, a = (1 - t) ** 2 * I2 + t**2 * SIGMA, t * SIGMA - (1 - t) * I2
    return MU + rows(a @ torch.linalg.inv(c), x - t[:, :, 0] * MU)


def vp_epsilon(x: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """E[ε | x] for x = √ᾱ x0 + √(1-ᾱ) ε: √(1-ᾱ) (ᾱ Σ + (1-ᾱ) I)⁻¹ (x - √ᾱ μ)."""
    ab = torch.as_tensor(alpha_bar, dtype=x.dtype).expand(len(x))[:, None, None]
    c = ab * SIGMA + (1 - ab) * I2
    return rows((1 - ab).sqrt() * torch.linalg.inv(c), x - ab[:, :, 0].sqrt() * MU)


def ve_epsilon(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """E[ε | x] for x = x0 + σ ε: σ (Σ + σ² I)⁻¹ (x - μ)."""
    s = torch.as_tensor(sigma, dtype=x.dtype).expand(len(x))[:, None, None]
    return rows(s * torch.linalg.inv(SIGMA + s**2 * I2), x - MU)


class ExactNet(nn.Module):
    """Stands in for a model's network: the exact field at the model's own time input."""

    def __init__(self, field):
        super().__init__()
        self.field = field

    def forward(self, x, level):
        return self.field(x, torch.as_tensor(level, dtype=x.dtype))


def with_exact_field(name: str, **settings):
    """The model with its network replaced by the exact field (no moving average: the field is what it shows)."""
    model = MODELS[name](MODELS[name].Config(**settings, ema=0.0), 2).double()
    model.data_mean.copy_(MU)
    model.data_cov.copy_(SIGMA)
    if name == "flow-matching":
        model.net = ExactNet(fm_velocity)
    elif name == "ddpm":
        lo, hi = model.log_sigma_bar_range
        model.net = ExactNet(lambda x, level: vp_epsilon(x, 1 / (1 + torch.exp(2 * (lo + level * (hi - lo))))))
    else:
        lo, hi = model.log_sigma_range
        model.net = ExactNet(lambda x, level: ve_epsilon(x, torch.exp(lo + level * (hi - lo))))
    return model


# -- closed-form minima of the losses, by Monte Carlo -------------------------------------------------
def monte_carlo(loss_of_chunk, chunks: int = 20) -> tuple[float, float]:
    """Mean and standard error of the chunk losses (each chunk a fresh, independent draw)."""
    values = np.array([float(loss_of_chunk(k)) for k in range(chunks)])
    return values.mean(), values.std(ddof=1) / math.sqrt(chunks)


def test_cfm_loss_at_the_exact_velocity_is_its_closed_form_minimum():
    """min L_CFM = E_t tr Cov(x1 - x0 | x_t) = ∫_0^1 tr(Σ + I - A C⁻¹ A) dt (Gauss-Legendre quadrature)."""
    nodes, weights = np.polynomial.legendre.leggauss(200)
    t = torch.as_tensor((nodes + 1) / 2)
    c = (1 - t[:, None, None]) ** 2 * I2 + t[:, None, None] ** 2 * SIGMA
    a = t[:, None, None] * SIGMA - (1 - t[:, None, None]) * I2
    cond = (SIGMA + I2 - a @ torch.linalg.inv(c) @ a).diagonal(dim1=1, dim2=2).sum(1)
    minimum = float((torch.as_tensor(weights) / 2 * cond).sum())

    def chunk(k, v=fm_velocity):
        g = torch.Generator().manual_seed(100 + k)
        x1 = gaussian_data(10_000, 200 + k)
        return cfm_loss(v, torch.randn(10_000, 2, generator=g, dtype=torch.float64), x1,
                        torch.rand(10_000, generator=g, dtype=torch.float64))

    mean, sem = monte_carlo(chunk)
    assert abs(mean - minimum) < 4 * sem + 1e-3
    # off the optimum by a constant c the loss grows by exactly ‖c‖² (the cross term vanishes at v*)
    c = torch.tensor([0.1, -0.2], dtype=torch.float64)
    excess, sem = monte_carlo(lambda k: chunk(k, lambda x, t: fm_velocity(x, t) + c) - chunk(k))
    assert abs(excess - 0.05) < 4 * sem + 1e-4


def test_dsm_loss_at_the_exact_score_is_its_closed_form_minimum():
    """min E‖ε̂ - ε‖² at one σ is tr Cov(ε | x̃) = tr(I - σ²(Σ + σ² I)⁻¹); the ladder averages it."""
    model = MODELS["score"](MODELS["score"].Config(levels=8, sigma_min=0.05, sigma_max=5.0), 2)
    sigmas = model.sigmas.double()
    minimum = float(np.mean([float(torch.trace(I2 - s**2 * torch.linalg.inv(SIGMA + s**2 * I2))) for s in sigmas]))

    def chunk(k):
        g = torch.Generator().manual_seed(300 + k)
        sigma = sigmas[torch.randint(len(sigmas), (10_000,), generator=g)]
        eps = torch.randn(10_000, 2, generator=g, dtype=torch.float64)
        return dsm_loss(ve_epsilon, gaussian_data(10_000, 400 + k), sigma, sigma, eps)

    mean, sem = monte_carlo(chunk)
    assert abs(mean - minimum) < 4 * sem + 1e-3


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ddpm_epsilon_loss_at_the_exact_noise_predictor_is_its_closed_form_minimum(schedule):
    """min L_simple = E_i tr Cov(ε | x_i) = E_i tr(I - (1-ᾱ_i)(ᾱ_i Σ + (1-ᾱ_i) I)⁻¹)."""
    ab = alpha_bars(schedule, 100).double()[1:]
    minimum = float(np.mean([float(torch.trace(I2 - (1 - a) * torch.linalg.inv(a * SIGMA + (1 - a) * I2)))
                             for a in ab]))

    def chunk(k):
        g = torch.Generator().manual_seed(500 + k)
        a = ab[torch.randint(len(ab), (10_000,), generator=g)]
        eps = torch.randn(10_000, 2, generator=g, dtype=torch.float64)
        return epsilon_loss(vp_epsilon, gaussian_data(10_000, 600 + k), a, a, eps)

    mean, sem = monte_carlo(chunk)
    assert abs(mean - minimum) < 4 * sem + 1e-3


# -- the DDPM variational bound (Ho et al. eq. 5) at the exact noise predictor ----------------------------
def reverse_steps(alpha_bar: torch.Tensor, i: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """At steps i: ᾱ_i, the weight b_i of x_0 in the posterior mean μ̃_i, the posterior variance β̃_i (Ho et al.
    eq. 7), the model's variance σ_i² (β̃_i; β_1 at i = 1) and the gain K_i of E[x_0 | x_i] = μ + K_i (x_i - √ᾱ_i μ)."""
    a, a_prev = alpha_bar[i], alpha_bar[i - 1]
    beta = 1 - a / a_prev
    beta_tilde = beta * (1 - a_prev) / (1 - a)
    gain = a.sqrt()[:, None, None] * SIGMA @ torch.linalg.inv(a[:, None, None] * SIGMA + (1 - a)[:, None, None] * I2)
    return a, a_prev.sqrt() * beta / (1 - a), beta_tilde, torch.where(i == 1, beta, beta_tilde), gain


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ddpm_bound_terms_at_the_exact_noise_predictor_are_their_closed_forms(schedule):
    """At the optimum μ_θ(x_i) = E[μ̃_i | x_i] = b_i E[x_0 | x_i] + (x_i's term), so given x_0
    L_{i-1} = b_i² E‖x_0 - E[x_0 | x_i]‖²/(2σ_i²), where x_0 - E[x_0 | x_i] = (I - √ᾱ K)(x_0 - μ) - √(1 - ᾱ) K ε
    has mean square ‖(I - √ᾱ K)(x_0 - μ)‖² + (1 - ᾱ) ‖K‖²_F; L_0 (b_1 = 1) adds d/2 log 2πσ_1²."""
    model = with_exact_field("ddpm", timesteps=1000, schedule=schedule)
    steps = torch.tensor([1, 2, 3, 10, 100, 500, 1000])
    x0 = torch.tensor([[1.0, -0.5], [2.5, 1.0], [-1.0, -3.0]], dtype=torch.float64)
    r, n, g = x0 - MU, 20_000, torch.Generator().manual_seed(13)
    for i, a, b, _, variance, gain in zip(steps, *reverse_steps(model.alpha_bar, steps)):
        mean_square = ((r - a.sqrt() * rows(gain, r)) ** 2).sum(1) + (1 - a) * (gain**2).sum()
        closed = b**2 * mean_square / (2 * variance) + (i == 1) * torch.log(2 * math.pi * variance)
        eps = torch.randn(3 * n, 2, generator=g, dtype=torch.float64)
        terms = model.vlb_term(x0.repeat_interleave(n, 0), i.expand(3 * n), eps).reshape(3, n)
        sem = terms.std(1) / math.sqrt(n)
        assert torch.all((terms.mean(1) - closed).abs() < 4 * sem + 1e-9), (int(i), terms.mean(1), closed)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ddpm_prior_term_is_the_closed_form_kl_to_the_standard_normal(schedule):
    ab = alpha_bars(schedule, 50).double()[-1]
    x0 = 30 * gaussian_data(100, 3)  # far out, where L_T is not negligible
    q, p = torch.distributions.Normal(ab.sqrt() * x0, (1 - ab).sqrt()), torch.distributions.Normal(0.0, 1.0)
    torch.testing.assert_close(prior_kl(x0, ab), torch.distributions.kl_divergence(q, p).sum(1))


def reverse_kl_gap(alpha_bar: torch.Tensor) -> float:
    """E[-ELBO] - H(data) = KL(q(x_{0:T}) ‖ p_θ(x_{0:T}))
    = KL(q(x_T) ‖ N(0, I)) + Σ_i E KL(q(x_{i-1} | x_i) ‖ p_θ(x_{i-1} | x_i)).
    For Gaussian data the true reverse kernel q(x_{i-1} | x_i) = E_{x_0 | x_i} q(x_{i-1} | x_i, x_0) is Gaussian, with
    the optimal model's mean and covariance β̃_i I + b_i² Cov(x_0 | x_i), Cov(x_0 | x_i) = Σ - √ᾱ_i K_i Σ."""
    a, b, beta_tilde, variance, gain = reverse_steps(alpha_bar, torch.arange(1, len(alpha_bar)))
    true_cov = beta_tilde[:, None, None] * I2 + b[:, None, None] ** 2 * (SIGMA - a.sqrt()[:, None, None] * gain @ SIGMA)
    mvn, zero = torch.distributions.MultivariateNormal, torch.zeros(2, dtype=torch.float64)
    steps = torch.distributions.kl_divergence(mvn(zero, true_cov), mvn(zero, variance[:, None, None] * I2))
    a_T = alpha_bar[-1]
    prior = torch.distributions.kl_divergence(mvn(a_T.sqrt() * MU, a_T * SIGMA + (1 - a_T) * I2), mvn(zero, I2))
    return float(steps.sum() + prior)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("timesteps,draws", [(10, 9), (1000, 32), (1000, 400)])
def test_ddpm_elbo_at_the_exact_noise_predictor_exceeds_the_nll_by_the_reverse_kls(schedule, timesteps, draws):
    """-ELBO(x_0) + log q(x_0) has mean `reverse_kl_gap` ≥ 0 (the bound holds), for every seed of the data and of
    the model's draws, whether the strata hold one step each or many."""
    model = with_exact_field("ddpm", timesteps=timesteps, schedule=schedule)
    gap, n = reverse_kl_gap(model.alpha_bar), 4000
    for seed in (0, 1, 2):
        x = gaussian_data(n, 700 + seed)
        model.use_rng(torch.Generator().manual_seed(seed))
        excess = exact_log_prob(x) - model.elbo(x, draws)
        mean, sem = float(excess.mean()), float(excess.std()) / math.sqrt(n)
        assert abs(mean - gap) < 4 * sem and mean - 4 * sem > 0, (seed, mean, sem, gap)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ddpm_bound_gap_at_the_optimum_shrinks_with_T_but_not_below_d_gamma_over_2(schedule):
    """The gap does not vanish as T grows: the first steps keep (1 - ᾱ_i)/(1 - ᾱ_{i-1}) ≈ i/(i - 1) at any T, so
    the true reverse variance exceeds β̃_i by a factor r_i ≈ 1 + 1/(i - 1) there, and those steps' KLs sum to
    d/2 Σ_k (1/k - log(1 + 1/k)) = d γ/2 (Euler's γ), 0.577 nats here (more as β grows over them), while the
    later steps' shrink with T. Measured: 1.29, 0.90, 0.69 nats at T = 10, 1000, 4000 (the most the config allows)
    for the linear schedule, 1.92, 0.81, 0.65 for the cosine; with ᾱ in float64, 0.581 and 0.580 at T = 256 000."""
    gaps = [reverse_kl_gap(alpha_bars(schedule, steps).double()) for steps in (10, 1000, 4000)]
    assert gaps == sorted(gaps, reverse=True) and np.euler_gamma < gaps[-1] < np.euler_gamma + 0.12, gaps


# -- the forward process q(x_t | x_0) ----------------------------------------------------------------
@pytest.mark.parametrize("name,t,mean_scale,std", [
    ("ddpm", 250, None, None),
    ("score", 0.7, 1.0, 0.7),
    ("flow-matching", 0.3, 0.3, 0.7),
])
def test_forward_process_samples_have_the_closed_form_mean_and_variance(name, t, mean_scale, std):
    model = MODELS[name](MODELS[name].Config(), 2)
    if name == "ddpm":  # Ho et al.'s linear β_i from 1e-4 to 0.02 over T = 1000, multiplied out independently
        beta = np.linspace(1e-4, 0.02, 1000)
        ab = np.prod(1 - beta[:t])
        mean_scale, std = math.sqrt(ab), math.sqrt(1 - ab)
    x0 = torch.tensor([[1.5, -2.0]]).expand(200_000, 2)
    x_t = model.noised(x0, t, torch.Generator().manual_seed(7)).double()
    n = len(x_t)
    torch.testing.assert_close(x_t.mean(0), mean_scale * x0[0].double(), atol=5 * std / math.sqrt(n), rtol=0)
    torch.testing.assert_close(x_t.var(0), torch.full((2,), std**2, dtype=torch.float64),
                               atol=5 * std**2 * math.sqrt(2 / n), rtol=2e-3)


def test_linear_schedule_is_the_continuous_limit_of_hos_betas():
    """β_i = 1 - exp(-∫ β(s) ds over step i) ≈ β((i - ½)/T)/T: Ho et al.'s 1e-4 + (i - 1)(0.02 - 1e-4)/999
    within half a step's increment and the β²/2 of 1 - exp(-β), and log ᾱ_T within 1%."""
    ab = alpha_bars("linear", 1000).double().numpy()
    hos = np.linspace(1e-4, 0.02, 1000)
    np.testing.assert_allclose(1 - ab[1:] / ab[:-1], hos, rtol=0.011, atol=1.1e-5)
    assert np.log(ab[-1]) == pytest.approx(np.log(1 - hos).sum(), rel=0.01)


def test_cosine_schedule_matches_nichol_and_dhariwal_and_caps_beta():
    ab = alpha_bars("cosine", 1000).double().numpy()
    f = lambda t: np.cos((t + 0.008) / 1.008 * np.pi / 2) ** 2  # noqa: E731
    t = np.arange(1001) / 1000
    np.testing.assert_allclose(ab[:900], (f(t) / f(0))[:900], rtol=1e-4)
    assert (1 - ab[1:] / ab[:-1]).max() <= 0.999 + 1e-6


# -- the ODE machinery ---------------------------------------------------------------------------------
def test_fourier_features_of_x_are_sines_and_cosines_at_halving_periods():
    x = torch.tensor([[0.5, -2.0], [3.0, 1.25]], dtype=torch.float64)
    omega = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    expected = torch.stack([torch.cat([p, torch.sin(p[0] * omega), torch.sin(p[1] * omega),
                                       torch.cos(p[0] * omega), torch.cos(p[1] * omega)]) for p in x])
    torch.testing.assert_close(sinusoids(x, omega), expected)
    torch.testing.assert_close(sinusoids(x, omega[:0]), x)  # none: x as it is


def test_a_network_without_fourier_features_keeps_the_weights_it_had():
    """x_frequencies = 0 is the network saved before the option existed: same parameters, same inputs."""
    torch.manual_seed(0)
    net = TimeMLP(2, 2, 16, 2)
    assert [tuple(p.shape) for p in net.state_dict().values()][0] == (16, 2 + 1 + 2 * FREQUENCIES)
    x, t = torch.randn(5, 2), torch.rand(5)
    torch.testing.assert_close(net(x, t), net.net(torch.cat([x, time_features(t)], 1)))
    assert TimeMLP(2, 2, 16, 2, 3).state_dict().keys() == net.state_dict().keys()


@pytest.mark.parametrize("x_frequencies", [None, 4])
def test_exact_divergence_is_the_trace_of_the_autograd_jacobian(x_frequencies):
    """Of a plain MLP, and of the family's network at one time with Fourier features of x."""
    torch.manual_seed(3)
    if x_frequencies is None:
        f = mlp(2, 2, 32, 2, nn.SiLU).double()
    else:
        net = TimeMLP(2, 2, 32, 2, x_frequencies).double()
        f = lambda y: net(y, torch.tensor(0.3, dtype=torch.float64))  # noqa: E731
    x = torch.randn(7, 2, dtype=torch.float64)
    fx, div = ode.divergence(f, x)
    expected = torch.stack([torch.trace(jacobian(lambda p: f(p[None])[0], p)) for p in x])
    torch.testing.assert_close(fx, f(x))
    torch.testing.assert_close(div, expected)


@pytest.mark.parametrize("method,order", [("euler", 1), ("midpoint", 2), ("rk4", 4)])
def test_solvers_converge_at_their_order_on_a_linear_ode(method, order):
    a = torch.tensor([[-1.0, 2.0], [-2.0, -1.0]], dtype=torch.float64)
    x = torch.tensor([[1.0, 0.5]], dtype=torch.float64)
    exact = x @ torch.linalg.matrix_exp(a.T)
    errors = [float((ode.path(lambda y, t: y @ a.T, x, torch.linspace(0, 1, n + 1, dtype=torch.float64),
                              method)[-1] - exact).norm()) for n in (20, 40)]
    assert math.log2(errors[0] / errors[1]) == pytest.approx(order, abs=0.3)


@pytest.mark.parametrize("name,settings", [
    ("flow-matching", {"nll_steps": 64}),
    ("ddpm", {"nll_steps": 64}),
    ("ddpm", {"nll_steps": 64, "schedule": "cosine"}),
    ("score", {"nll_steps": 64, "sigma_min": 0.005, "sigma_max": 20.0}),
])
def test_probability_flow_nll_of_the_exact_field_is_the_gaussians_nll(name, settings):
    model = with_exact_field(name, **settings)
    x = gaussian_data(500, 9)
    nll, exact = -model.log_prob(x), -exact_log_prob(x)
    assert abs(float(nll.mean() - exact.mean())) < 1e-3
    assert float((nll - exact).abs().max()) < 5e-3


@pytest.mark.parametrize("name,settings", [
    ("flow-matching", {"solver": "rk4", "sample_steps": 20}),
    ("ddpm", {"sampler": "ddim", "sample_steps": 1000}),
    ("ddpm", {"sampler": "ancestral", "timesteps": 1000}),
    ("score", {"sigma_min": 0.1, "sigma_max": 10.0, "levels": 20, "steps_per_level": 100, "step_ratio": 0.5}),
])
def test_samplers_with_the_exact_field_draw_the_gaussian(name, settings):
    """DDIM and the ODE converge as their steps grow; ancestral sampling with the posterior variance β̃ is
    exact only as T grows (Ho et al. §3.2: β̃ is optimal for a point mass, β for N(0, I)); annealed
    Langevin where each level mixes, down to a σ_min at which p_σ is still nearly the data (Σ + 0.01 I)."""
    model = with_exact_field(name, **settings)
    x, _ = model.sample_path(10_000, torch.Generator().manual_seed(11))
    x = x[-1]
    torch.testing.assert_close(x.mean(0), MU, atol=0.04, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), SIGMA, atol=0.06, rtol=0)


# -- minibatch optimal transport -----------------------------------------------------------------------
def test_ot_pairing_is_the_cheapest_permutation_by_brute_force():
    g = torch.Generator().manual_seed(5)
    x0, x1 = torch.randn(7, 2, generator=g), torch.randn(7, 2, generator=g)
    a, b = ot_pairing(x0, x1)
    cost = float(((a - b) ** 2).sum())
    best = min(float(((x0[list(p)] - x1) ** 2).sum()) for p in itertools.permutations(range(7)))
    assert cost == pytest.approx(best, rel=1e-6)
    assert sorted(map(tuple, a.tolist())) == sorted(map(tuple, x0.tolist()))  # a permutation of x0, each once


# -- Langevin dynamics ---------------------------------------------------------------------------------
def test_langevin_on_a_gaussian_energy_reproduces_its_mean_and_covariance():
    precision = torch.linalg.inv(SIGMA)
    x = torch.zeros(4000, 2, dtype=torch.float64)
    chain = langevin(lambda y: -rows(precision, y - MU), x, 0.02, 600, torch.Generator().manual_seed(1))
    samples = chain[300:].reshape(-1, 2)
    torch.testing.assert_close(samples.mean(0), MU, atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(samples.T), SIGMA, atol=0.05, rtol=0)


def test_ebm_chains_follow_minus_the_gradient_of_its_energy():
    """The EBM's own chain (autograd -∇E) with E = ½ (x - μ)ᵀ Σ⁻¹ (x - μ) samples N(μ, Σ)."""
    model = MODELS["ebm"](MODELS["ebm"].Config(step_size=0.02), 2).double()
    precision = torch.linalg.inv(SIGMA)

    class Quadratic(nn.Module):
        def forward(self, y):
            d = y - MU
            return 0.5 * (d * rows(precision, d)).sum(1, keepdim=True)

    model.energy_net = Quadratic()
    chain = model.chain(torch.zeros(4000, 2, dtype=torch.float64), 600, torch.Generator().manual_seed(2))
    samples = chain[300:].reshape(-1, 2)
    torch.testing.assert_close(samples.mean(0), MU, atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(samples.T), SIGMA, atol=0.05, rtol=0)
