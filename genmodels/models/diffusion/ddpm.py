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
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .base import DiffusionConfig, DiffusionModel, gaussian_log_prob

BETA_MIN, BETA_MAX = 0.1, 20.0
COSINE_OFFSET, MAX_BETA = 0.008, 0.999
SAMPLERS = ("ancestral", "ddim")


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


def epsilon_loss(eps_hat: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor,
                 alpha_bar: torch.Tensor, level: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """L_simple: E ‖ε - ε̂(√ᾱ x_0 + √(1 - ᾱ) ε, level)‖² over the batch (ᾱ per row; summed over dimensions)."""
    x_t = alpha_bar.sqrt()[:, None] * x0 + (1 - alpha_bar).sqrt()[:, None] * eps
    return ((eps_hat(x_t, level) - eps) ** 2).sum(1).mean()


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

    def eps_hat(self, x: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        """ε̂(x_i, i) for steps i ≥ 1 (a tensor of indices, or one index for all rows)."""
        ab = self.alpha_bar[i]
        return self.net(x, self.level(0.5 * torch.log((1 - ab) / ab)))

    def loss(self, x: torch.Tensor, phase: str = "model") -> dict[str, torch.Tensor]:
        i = torch.randint(1, self.config.timesteps + 1, (len(x),), generator=self.rng, device=x.device)
        eps = self.noise(x.shape, self.rng)
        return {"loss": epsilon_loss(self.eps_hat, x, self.alpha_bar[i], i, eps)}

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
        variance = beta * (1 - ab_prev) / (1 - ab)
        return mean + variance.sqrt() * self.noise(x.shape, generator)

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
        return sigma_bar * self.net(y / torch.sqrt(1 + sigma_bar**2), self.level(u))

    def pf_prior_log_prob(self, y):
        sigma2 = (1 - self.alpha_bar[-1]) / self.alpha_bar[-1]
        return gaussian_log_prob(y, self.data_mean, self.data_cov + sigma2 * torch.eye(self.dim, device=y.device))
