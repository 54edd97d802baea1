"""DDPM: denoising diffusion probabilistic models with ε-prediction (Ho et al. 2020).

Forward process over T steps with ᾱ_i = Π_{j≤i} (1 - β_j):
    q(x_i | x_0) = N(√ᾱ_i x_0, (1 - ᾱ_i) I)          (Ho et al., eq. 4)
The network ε̂(x_i, i) predicts the noise: L_simple = E_{i, x_0, ε} ‖ε - ε̂(√ᾱ_i x_0 + √(1-ᾱ_i) ε, i)‖²
(eq. 14), i uniform on 1..T. Schedules, as continuous ᾱ(t) sampled at t = i/T:
    linear   log ᾱ(t) = -(β_min t + ½ (β_max - β_min) t²), β_min = 0.1, β_max = 20: the continuous
             limit of Ho et al.'s β from 1e-4 to 0.02 over T = 1000 (Song et al. 2021, VP SDE);
    cosine   ᾱ(t) = f(t)/f(0), f(t) = cos²((t + s)/(1 + s) · π/2), s = 0.008, β_i ≤ 0.999 (Nichol & Dhariwal 2021).
Sampling: ancestral (Ho et al., Alg. 2, with the posterior variance β̃_i = β_i (1 - ᾱ_{i-1})/(1 - ᾱ_i)),
or deterministic DDIM on `sample_steps` evenly spaced steps (Song, Meng & Ermon 2021, eq. 12, σ = 0):
    x_{prev} = √ᾱ_prev x̂_0 + √(1 - ᾱ_prev) ε̂,   x̂_0 = (x - √(1 - ᾱ) ε̂)/√ᾱ.
Likelihood: in x̄ = x/√ᾱ the process is x̄ = x_0 + σ̄ ε with σ̄² = (1 - ᾱ)/ᾱ, and the probability flow is
dx̄/dσ̄ = ε̂ (DDIM, eq. 14): solved in u = log σ̄ from step 1 to step T, where x̄_T ~ N(μ, Σ + σ̄_T² I)
for data of mean μ and covariance Σ, so log p is that of x_1 (the first noise level, √(1-ᾱ_1) ≈ 0.02
for T = 1000), up to the solver's error.
Bound: the ancestral sampler's model has the variational bound of Ho et al. eq. 5 (`elbo`, `test_elbo`):
    -log p_θ(x_0) ≤ L_T + Σ_{i=2}^T L_{i-1} + L_0,   each term in closed form given x_i (`vlb_term`).
Even with the exact ε̂ it is not tight: over the first steps the fixed variance β̃_i is short of the true reverse
variance by a factor ≈ (i - 1)/i at any T, so the gap tends to d γ/2 nats as T grows (Euler's γ: 0.58 in 2D;
0.9 at T = 1000 for the 2D Gaussian of tests/test_diffusion_maths.py).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .base import LOG_PROB_BATCH, DiffusionConfig, DiffusionModel, gaussian_log_prob

BETA_MIN, BETA_MAX = 0.1, 20.0
COSINE_OFFSET, MAX_BETA = 0.008, 0.999
SAMPLERS = ("ancestral", "ddim")
ELBO_DRAWS = 32  # steps per point in test_elbo besides L_0: one in each of (at most) 32 strata of 2..T


def linear_log_alpha_bar(t: torch.Tensor) -> torch.Tensor:
    return -(BETA_MIN * t + 0.5 * (BETA_MAX - BETA_MIN) * t**2)


def cosine_log_alpha_bar(t: torch.Tensor) -> torch.Tensor:
    f = lambda t: 2 * torch.log(torch.cos((t + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2))  # noqa: E731
    return f(t) - f(torch.zeros_like(t))


SCHEDULES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": linear_log_alpha_bar, "cosine": cosine_log_alpha_bar}


def alpha_bars(schedule: str, steps: int) -> torch.Tensor:
    """ᾱ_0 = 1, ᾱ_1, ..., ᾱ_T from the schedule's ᾱ(i/T), with each β_i = 1 - ᾱ_i/ᾱ_{i-1} at most 0.999."""
    t = torch.linspace(0, 1, steps + 1, dtype=torch.float64, device="cpu")
    log_ab = SCHEDULES[schedule](t.clamp(max=1 - 1e-9))
    beta = (1 - torch.exp(log_ab[1:] - log_ab[:-1])).clamp(max=MAX_BETA)
    return torch.cat([torch.ones(1, dtype=torch.float64, device="cpu"), torch.cumprod(1 - beta, 0)]).float()


def epsilon_error(eps_hat: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor,
                  alpha_bar: torch.Tensor, level: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """‖ε - ε̂(√ᾱ x_0 + √(1 - ᾱ) ε, level)‖² per row (ᾱ per row; summed over dimensions)."""
    x_t = alpha_bar.sqrt()[:, None] * x0 + (1 - alpha_bar).sqrt()[:, None] * eps
    return ((eps_hat(x_t, level) - eps) ** 2).sum(1)


def epsilon_loss(eps_hat: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor,
                 alpha_bar: torch.Tensor, level: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """L_simple (eq. 14): the batch mean of `epsilon_error`."""
    return epsilon_error(eps_hat, x0, alpha_bar, level, eps).mean()


def posterior_variance(alpha_bar: torch.Tensor, alpha_bar_prev: torch.Tensor) -> torch.Tensor:
    """β̃_i = β_i (1 - ᾱ_{i-1})/(1 - ᾱ_i), the variance of q(x_{i-1} | x_i, x_0) (Ho et al., eq. 7)."""
    return (1 - alpha_bar / alpha_bar_prev) * (1 - alpha_bar_prev) / (1 - alpha_bar)


def prior_kl(x0: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """L_T = KL(q(x_T | x_0) ‖ N(0, I)) per row, q(x_T | x_0) = N(√ᾱ_T x_0, (1 - ᾱ_T) I) (Ho et al., eqs. 4-5):
    ½ Σ_d (m² + s² - 1 - log s²) for mean m and variance s² per dimension."""
    s2 = 1 - alpha_bar
    return 0.5 * (alpha_bar * (x0**2).sum(1) + x0.shape[1] * (s2 - 1 - torch.log(s2)))


@dataclass(frozen=True)
class DDPMConfig(DiffusionConfig):
    timesteps: int = field(default=1000, metadata={"min": 2, "max": 4000, "help": "diffusion steps T"})
    schedule: str = field(default="linear", metadata={"choices": tuple(SCHEDULES), "help": "noise schedule ᾱ(t)"})
    sampler: str = field(default="ddim", metadata={
        "choices": SAMPLERS, "help": "ancestral: T stochastic steps; ddim: sample_steps deterministic steps"})
    sample_steps: int = field(default=50, metadata={"min": 1, "max": 4000, "help": "DDIM steps (at most T)"})


class DDPM(DiffusionModel):
    Config = DDPMConfig
    time_label = "diffusion step i"

    def __init__(self, config: DDPMConfig, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        alpha_bar = alpha_bars(config.schedule, config.timesteps)
        self.register_buffer("alpha_bar", alpha_bar)
        log_sigma_bar = 0.5 * torch.log((1 - alpha_bar[1:]) / alpha_bar[1:])
        self.log_sigma_bar_range = (float(log_sigma_bar[0]), float(log_sigma_bar[-1]))

    def level(self, log_sigma_bar: torch.Tensor) -> torch.Tensor:
        """The network's time input: log σ̄ mapped to [0, 1] over steps 1..T (any schedule, any T)."""
        lo, hi = self.log_sigma_bar_range
        return (log_sigma_bar - lo) / (hi - lo)

    def eps_hat(self, x: torch.Tensor, i: torch.Tensor, net: nn.Module | None = None) -> torch.Tensor:
        """ε̂(x_i, i) for steps i ≥ 1 (a tensor of indices, or one index for all rows), by `net` (default: the
        network shown)."""
        ab = self.alpha_bar[i]
        return (self.shown_net if net is None else net)(x, self.level(0.5 * torch.log((1 - ab) / ab)))

    def loss(self, x: torch.Tensor, phase: str = "model") -> dict[str, torch.Tensor]:
        i = torch.randint(1, self.config.timesteps + 1, (len(x),), generator=self.rng, device=x.device)
        eps = self.noise(x.shape, self.rng)
        return {"loss": epsilon_loss(functools.partial(self.eps_hat, net=self.net), x, self.alpha_bar[i], i, eps)}

    # -- sampling --------------------------------------------------------------------------------
    def sample_path(self, n, generator):
        x = self.noise((n, self.dim), generator)
        T = self.config.timesteps
        if self.config.sampler == "ancestral":
            steps = torch.arange(T, -1, -1, device=self.device)
        else:
            steps = torch.linspace(T, 0, min(self.config.sample_steps, T) + 1, device=self.device).round().long()
        states = [x]
        for i, prev in zip(steps[:-1], steps[1:]):
            states.append(self.denoise_step(states[-1], int(i), int(prev), generator))
        return torch.stack(states), steps.float()

    def denoise_step(self, x: torch.Tensor, i: int, prev: int, generator) -> torch.Tensor:
        """x_prev from x_i: DDIM's deterministic update, or (ancestral) a draw of p(x_{i-1} | x_i)."""
        ab, ab_prev = self.alpha_bar[i], self.alpha_bar[prev]
        eps = self.eps_hat(x, torch.tensor(i, device=x.device))
        if self.config.sampler == "ddim":
            x0_hat = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
            return ab_prev.sqrt() * x0_hat + (1 - ab_prev).sqrt() * eps
        beta = 1 - ab / ab_prev
        mean = (x - beta / (1 - ab).sqrt() * eps) / (1 - beta).sqrt()
        return mean + posterior_variance(ab, ab_prev).sqrt() * self.noise(x.shape, generator)

    def noised(self, x0, t, generator):
        ab = self.alpha_bar[round(t)]
        return ab.sqrt() * x0 + (1 - ab).sqrt() * self.noise(x0.shape, generator)

    def field(self, x, t):
        """The score ∇ log q(x_i) ≈ -ε̂(x, i)/√(1 - ᾱ_i) (at i = 0, that of step 1)."""
        i = max(round(t), 1)
        return -self.eps_hat(x, torch.tensor(i, device=x.device)) / (1 - self.alpha_bar[i]).sqrt()

    # -- probability flow in x̄ = x/√ᾱ, u = log σ̄ -------------------------------------------------
    def pf_encode(self, x):
        ab = self.alpha_bar[1]
        return x / ab.sqrt(), torch.full((len(x),), -0.5 * self.dim * float(torch.log(ab)), device=x.device)

    def pf_times(self):
        return torch.linspace(*self.log_sigma_bar_range, self.config.nll_steps + 1)

    def pf_velocity(self, y, u):
        """dx̄/du = σ̄ ε̂(x̄/√(1 + σ̄²), u): the network sees x = √ᾱ x̄ at ᾱ = 1/(1 + σ̄²)."""
        sigma_bar = torch.exp(u)
        return sigma_bar * self.shown_net(y / torch.sqrt(1 + sigma_bar**2), self.level(u))

    def pf_prior_log_prob(self, y):
        sigma2 = (1 - self.alpha_bar[-1]) / self.alpha_bar[-1]
        return gaussian_log_prob(y, self.data_mean, self.data_cov + sigma2 * torch.eye(self.dim, device=y.device))

    # -- the variational bound (Ho et al. 2020, eqs. 5-12) -----------------------------------------
    def vlb_term(self, x0: torch.Tensor, i: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The bound's term at step i (a tensor, per row), given x_i = √ᾱ_i x_0 + √(1 - ᾱ_i) ε (eq. 4):
        i ≥ 2:  L_{i-1} = KL(q(x_{i-1} | x_i, x_0) ‖ p_θ(x_{i-1} | x_i)) (eq. 5). Both are Gaussians with the
                ancestral sampler's variance σ_i² = β̃_i, means μ̃_i (eq. 7) and μ_θ = (x_i - β_i ε̂/√(1 - ᾱ_i))/√α_i
                (eq. 11), so L_{i-1} = ‖μ̃_i - μ_θ‖²/(2σ_i²) (eq. 8) = β_i²/(2σ_i² α_i (1 - ᾱ_i)) ‖ε - ε̂‖² (eq. 12).
        i = 1:  L_0 = -log p_θ(x_0 | x_1). For continuous data the decoder here is the Gaussian
                N(x_0; μ_θ(x_1, 1), σ_1² I), not eq. 13's discrete one for pixels, with σ_1² = β_1 (as β̃_1 = 0;
                Ho et al.'s other choice σ_t² = β_t). μ̃_1 = x_0, so L_0 = ‖x_0 - μ_θ‖²/(2σ_1²) + d/2 log(2π σ_1²):
                eq. 12's weight and a constant.
                The sampler's last step, like Ho et al.'s Alg. 2, returns the decoder's mean."""
        ab, ab_prev = self.alpha_bar[i], self.alpha_bar[i - 1]
        beta, first = 1 - ab / ab_prev, i == 1
        variance = torch.where(first, beta, posterior_variance(ab, ab_prev))
        kl = beta**2 / (2 * variance * (1 - beta) * (1 - ab)) * epsilon_error(self.eps_hat, x0, ab, i, eps)
        return kl + first * 0.5 * self.dim * torch.log(2 * math.pi * variance)

    def elbo(self, x0: torch.Tensor, draws: int) -> torch.Tensor:
        """log p_θ(x_0) ≥ -(L_T + Σ_{i=2}^T L_{i-1} + L_0) per row (eq. 5), estimated without bias: L_T exact; L_0,
        and the sum by `draws` strata of 2..T geometric in i (fewer where rounding merges some), with one step
        uniform in each weighted by the stratum's size; each term at one ε from the model's generator. Near the
        data L_{i-1} falls like 1/i (at the optimum, for data smooth at the scale √(1 - ᾱ_i)), so geometric strata
        hold similar shares of the sum: at 32 draws, T = 1000 the estimate spreads a quarter as much as with
        equal strata."""
        T, n = self.config.timesteps, len(x0)
        edges = torch.logspace(0, math.log10(T), draws + 1, dtype=torch.float64).round().long().unique()
        edges = torch.cat([torch.zeros(1, dtype=torch.long), edges]).to(self.device)  # 0, 1, ..., T
        low, size = edges[:-1], edges.diff()  # stratum j is low_j + 1 .. low_j + size_j; the first is {1}: L_0
        k = len(size)
        u = torch.rand(n, k, generator=self.rng, device=self.device, dtype=x0.dtype)
        i = low + 1 + torch.minimum((u * size).long(), size - 1)
        eps = self.noise((n * k, self.dim), self.rng)
        terms = self.vlb_term(x0.repeat_interleave(k, 0), i.reshape(-1), eps).reshape(n, k)
        return -(prior_kl(x0, self.alpha_bar[-1]) + terms @ size.to(terms.dtype))

    @torch.no_grad()
    def metrics(self, x_test: torch.Tensor) -> dict[str, float]:
        """test_elbo: the mean `elbo` of the held-out points with ELBO_DRAWS strata, nats per point. It bounds the
        ancestral sampler's log-likelihood; test_nll is the probability flow's, another model's: either may be
        the larger."""
        elbo = torch.cat([self.elbo(x, ELBO_DRAWS) for x in x_test.split(LOG_PROB_BATCH)])
        return {"test_elbo": float(elbo.mean())}
