"""An energy-based model p(x) = exp(-E(x))/Z trained by contrastive divergence with short-run Langevin chains.

The gradient of the log-likelihood needs samples of the model itself (Hinton 2002):
    ∇_θ E_data[-log p(x)] = E_data[∇_θ E(x)] - E_p[∇_θ E(x)],
so the loss is E(x⁺) - E(x⁻) on data x⁺ and negatives x⁻ from `chain_steps` Langevin steps
x ← x - (η/2) ∇E(x) + √η z (`langevin.py`), with no gradient through the chain (Nijkamp et al.
2019, short-run MCMC). Chains start from N(μ, Σ) of the data, or with `persistent` from a buffer
of past chains, 5% restarted each round (Du & Mordatch 2019), and α (E(x⁺)² + E(x⁻)²) keeps the
energies near zero (ibid.). The normaliser Z is unknown, so there is no exact log p here; the view
draws E itself with the chains moving on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..base import GenerativeModel
from ..nets import mlp
from .base import N_SAMPLES, VISUAL_SEED, arrow_points, field_visuals, path_visuals, require_points
from .langevin import langevin

RESTART = 0.05  # share of persistent chains restarted from N(μ, Σ) each round


@dataclass(frozen=True)
class EBMConfig:
    hidden: int = field(default=128, metadata={"min": 8, "max": 1024, "help": "hidden width of the energy MLP"})
    depth: int = field(default=3, metadata={"min": 1, "max": 6, "help": "hidden layers of the energy MLP"})
    chain_steps: int = field(default=20, metadata={"min": 1, "max": 1000, "help": "Langevin steps per round"})
    step_size: float = field(default=0.01, metadata={"min": 1e-6, "max": 1.0, "log": True,
                                                     "help": "Langevin step η"})
    persistent: bool = field(default=True, metadata={"help": "continue chains from a buffer of past negatives"})
    buffer_size: int = field(default=10000, metadata={"min": 16, "max": 100000, "help": "persistent chains kept"})
    alpha: float = field(default=0.1, metadata={"min": 0.0, "max": 10.0, "help": "weight α of E² regularisation"})
    sample_steps: int = field(default=200, metadata={"min": 1, "max": 10000,
                                                     "help": "Langevin steps of a sample, from N(μ, Σ)"})


class EBM(GenerativeModel):
    family = "energy"
    Config = EBMConfig
    time_label = "Langevin step"
    field_label = "score -∇E"

    def __init__(self, config: EBMConfig, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        require_points(dim, shape)
        self.energy_net = mlp(dim, 1, config.hidden, config.depth, nn.SiLU)
        self.register_buffer("data_mean", torch.zeros(dim))
        self.register_buffer("data_cov", torch.eye(dim))
        self.register_buffer("chains", torch.zeros(config.buffer_size if config.persistent else 0, dim))

    def init_from_data(self, x: torch.Tensor) -> None:
        self.data_mean.copy_(x.mean(0))
        self.data_cov.copy_(torch.cov(x.T).reshape(self.dim, self.dim))
        self.chains.copy_(self.start(len(self.chains), self.rng))

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.energy_net(x)[:, 0]

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """-∇E(x), by autograd, detached (no gradient flows through the chains)."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.energy(x).sum(), x)
        return -grad

    def start(self, n: int, generator) -> torch.Tensor:
        """Fresh chains: x ~ N(μ, Σ) of the data."""
        z = torch.randn(n, self.dim, generator=generator, device=self.data_mean.device)
        return self.data_mean + z @ torch.linalg.cholesky(self.data_cov).T

    def chain(self, x: torch.Tensor, steps: int, generator) -> torch.Tensor:
        return langevin(self.score, x, self.config.step_size, steps, generator)

    def negatives(self, n: int) -> torch.Tensor:
        if not self.config.persistent:
            return self.chain(self.start(n, self.rng), self.config.chain_steps, self.rng)[-1]
        idx = torch.randint(len(self.chains), (n,), generator=self.rng, device=self.chains.device)
        x = self.chains[idx]
        restart = torch.rand(n, generator=self.rng, device=x.device) < RESTART
        x = torch.where(restart[:, None], self.start(n, self.rng), x)
        x = self.chain(x, self.config.chain_steps, self.rng)[-1]
        self.chains[idx] = x
        return x

    def loss(self, x: torch.Tensor, phase: str = "model") -> dict[str, torch.Tensor]:
        """E(x⁺) - E(x⁻) + α (E(x⁺)² + E(x⁻)²), averaged over the batch."""
        e_data, e_model = self.energy(x), self.energy(self.negatives(len(x)))
        cd = e_data.mean() - e_model.mean()
        reg = self.config.alpha * (e_data**2 + e_model**2).mean()
        return {"loss": cd + reg, "cd": cd}

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        return self.chain(self.start(n, self.rng), self.config.sample_steps, self.rng)[-1]

    @torch.no_grad()
    def visuals(self, grid: torch.Tensor | None) -> dict[str, np.ndarray]:
        """Samples after sample_steps; chains from N(μ, Σ) along the way; E on the grid and -∇E as arrows."""
        generator = torch.Generator(self.device).manual_seed(VISUAL_SEED)
        states = self.chain(self.start(N_SAMPLES, generator), self.config.sample_steps, generator)
        out = path_visuals(states, torch.arange(len(states), device=self.device, dtype=torch.float32))
        if grid is not None:
            out.update(energy=self.energy(grid), **field_visuals(grid, self.score(arrow_points(grid))[None]))
        return {k: v.cpu().numpy() for k, v in out.items()}
