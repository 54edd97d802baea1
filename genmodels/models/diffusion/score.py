"""Score matching over a ladder of noise levels, sampled by annealed Langevin dynamics (NCSN, Song & Ermon 2019).

Noise levels σ_1 > ... > σ_L form a geometric ladder from σ_max to σ_min. The perturbed data
x̃ = x + σ ε has the score ∇ log p_σ(x̃), and denoising score matching (Vincent 2011) fits it:
    ℓ(σ) = ½ E ‖s(x̃, σ) + ε/σ‖²,   ∇ log p_σ = argmin_s ℓ(σ),
weighted by λ(σ) = σ² (Song & Ermon, eq. 6-7) so every level counts alike. With s = -ε̂/σ this is
    L = E_{σ, x, ε} ‖ε̂(x + σ ε, σ) - ε‖²   (summed over dimensions, σ uniform on the ladder),
the same regression as DDPM's, for the variance-exploding path. Sampling (Song & Ermon, Alg. 1):
at each level, `steps_per_level` Langevin steps of size η_i = step_ratio · σ_i², from
x ~ N(μ, Σ + σ_max² I), then one denoising step x + σ_L² s(x, σ_L) (Tweedie's formula;
Song & Ermon 2020, "Improved techniques", §4). Likelihood: the probability flow
dx/dσ = -σ s(x, σ) = ε̂, solved in u = log σ from σ_min to σ_max, where p_σmax ≈ N(μ, Σ + σ_max² I);
log p is that of p_σmin, the data blurred by σ_min.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ...errors import UserError
from .base import DiffusionConfig, DiffusionModel, gaussian_log_prob
from .langevin import langevin


def dsm_loss(eps_hat, x: torch.Tensor, sigma: torch.Tensor, level: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """σ²-weighted denoising score matching E ‖ε̂(x + σ ε, level) - ε‖² (σ per row; summed over dimensions)."""
    return ((eps_hat(x + sigma[:, None] * eps, level) - eps) ** 2).sum(1).mean()


@dataclass(frozen=True)
class ScoreConfig(DiffusionConfig):
    levels: int = field(default=20, metadata={"min": 2, "max": 1000, "help": "noise levels L of the ladder"})
    sigma_min: float = field(default=0.02, metadata={"min": 1e-4, "max": 10.0, "log": True,
                                                     "help": "smallest noise level σ_L"})
    sigma_max: float = field(default=10.0, metadata={"min": 1e-2, "max": 1000.0, "log": True,
                                                     "help": "largest noise level σ_1 (about the data's diameter)"})
    steps_per_level: int = field(default=10, metadata={"min": 1, "max": 1000, "help": "Langevin steps per level"})
    step_ratio: float = field(default=0.5, metadata={"min": 1e-5, "max": 2.0, "log": True,
                                                     "help": "Langevin step η_i = step_ratio · σ_i²"})

    def __post_init__(self):
        if self.sigma_min >= self.sigma_max:
            raise UserError(f"sigma_min = {self.sigma_min} must be below sigma_max = {self.sigma_max}")


class ScoreModel(DiffusionModel):
    Config = ScoreConfig
    time_label = "noise level σ"

    def __init__(self, config: ScoreConfig, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        self.log_sigma_range = (math.log(config.sigma_min), math.log(config.sigma_max))

    @property
    def sigmas(self) -> torch.Tensor:
        """σ_1 > ... > σ_L, geometric from σ_max to σ_min."""
        lo, hi = self.log_sigma_range
        return torch.exp(torch.linspace(hi, lo, self.config.levels, device=self.device))

    def level(self, log_sigma: torch.Tensor) -> torch.Tensor:
        """The network's time input: log σ mapped to [0, 1] over [σ_min, σ_max]."""
        lo, hi = self.log_sigma_range
        return (log_sigma - lo) / (hi - lo)

    def eps_hat(self, x: torch.Tensor, sigma: torch.Tensor, net: nn.Module | None = None) -> torch.Tensor:
        """ε̂(x, σ) by `net` (default: the network shown)."""
        return (self.shown_net if net is None else net)(x, self.level(torch.log(sigma)))

    def score(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """s(x, σ) = -ε̂(x, σ)/σ ≈ ∇ log p_σ(x)."""
        return -self.eps_hat(x, sigma) / sigma

    def loss(self, x: torch.Tensor, phase: str = "model") -> dict[str, torch.Tensor]:
        k = torch.randint(self.config.levels, (len(x),), generator=self.rng, device=x.device)
        sigma = self.sigmas[k]
        eps = self.noise(x.shape, self.rng)
        return {"loss": dsm_loss(functools.partial(self.eps_hat, net=self.net), x, sigma, sigma, eps)}

    # -- sampling --------------------------------------------------------------------------------
    def start(self, n: int, generator) -> torch.Tensor:
        """x ~ N(μ, Σ + σ_max² I), the Gaussian that p_σmax approaches."""
        cov = self.data_cov + self.config.sigma_max**2 * torch.eye(self.dim, device=self.device)
        z = self.noise((n, self.dim), generator)
        return self.data_mean + z @ torch.linalg.cholesky(cov).T

    def sample_path(self, n, generator):
        c, states, times = self.config, [self.start(n, generator)], [self.config.sigma_max]
        for sigma in self.sigmas:
            chain = langevin(functools.partial(self.score, sigma=sigma), states[-1], c.step_ratio * float(sigma) ** 2,
                             c.steps_per_level, generator)
            states += list(chain[1:])
            times += [float(sigma)] * c.steps_per_level
        sigma = self.sigmas[-1]
        states.append(states[-1] + sigma**2 * self.score(states[-1], sigma))
        times.append(0.0)
        return torch.stack(states), torch.tensor(times, device=self.device)

    def noised(self, x0, t, generator):
        return x0 + t * self.noise(x0.shape, generator)

    def field(self, x, t):
        """The score at σ = t (after the last level, at σ_min)."""
        return self.score(x, torch.tensor(max(t, self.config.sigma_min), device=x.device))

    # -- probability flow in u = log σ -----------------------------------------------------------
    def pf_times(self):
        return torch.linspace(*self.log_sigma_range, self.config.nll_steps + 1)

    def pf_velocity(self, y, u):
        """dx/du = σ dx/dσ = -σ² s(x, σ) = σ ε̂(x, σ)."""
        return torch.exp(u) * self.shown_net(y, self.level(u))

    def pf_prior_log_prob(self, y):
        cov = self.data_cov + self.config.sigma_max**2 * torch.eye(self.dim, device=y.device)
        return gaussian_log_prob(y, self.data_mean, cov)
