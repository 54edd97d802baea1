"""The diffusion family (flow matching, DDPM, score matching): one noising path, one network, one likelihood.

Each model fixes a path between N(0, I)-like noise and the data, trains a network on (x, t)
along it, and samples by running the path backwards. The three are different parametrisations
of the same object, a probability path p_t whose probability-flow ODE dy/du = v(y, u) moves
samples of p_t along it (Song et al. 2021, "Score-based generative modeling through SDEs",
eq. 13). Its likelihood is exact up to the solver's error:
    log p_data(x) = log π(y_noise) + ∫ div v(y_u, u) du   (data end to noise end),
with the exact divergence of `ode.log_density_change` and a fixed RK4 grid of `nll_steps` steps.
A subclass supplies the ODE (`pf_times`, `pf_velocity`, `pf_prior_log_prob`, `pf_encode`),
its sampler (`sample_path`), the forward process (`noised`) and its learned field (`field`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ...errors import UserError
from ..averaging import averaged_copy, update_average
from ..base import GenerativeModel
from . import ode
from .time_mlp import TimeMLP

LOG_PROB_BATCH = 2048  # points per likelihood solve: bounds the autograd graph of one RK4 stage
N_PATHS = 200  # sample trajectories and forward-process points drawn
N_SAMPLES = 500  # live samples (each costs the sampler's every step: the live pictures' largest cost)
LEVELS = 11  # times at which the forward process, the reverse process and the field are shown
MAX_FRAMES = 60  # trajectory frames kept for the live picture
ARROW_STRIDE = 4  # arrows every 4th point of the trainer's grid (16 x 16 of 64 x 64)
ARROW_FRACTION = 0.06  # an arrow of typical length spans this fraction of the grid's width
VISUAL_SEED = 0  # the pictures' noise: the same draws at every frame, so trajectories move smoothly


@dataclass(frozen=True)
class DiffusionConfig:
    """Fields every model of the family shares."""

    hidden: int = field(default=128, metadata={"min": 8, "max": 1024, "help": "hidden width of the network"})
    depth: int = field(default=3, metadata={"min": 1, "max": 6, "help": "hidden layers of the network"})
    x_frequencies: int = field(default=0, metadata={
        "min": 0, "max": 10, "help": "Fourier features of x at frequencies 1/2, 1, 2, ...: sharp edges (a "
                                     "checkerboard's) with a small network; 0: x as it is"})
    ema: float = field(default=0.999, metadata={
        "min": 0.0, "max": 0.99999, "help": "samples, pictures and test_nll from a moving average of the "
                                            "network's weights with this decay (0: off)"})
    nll_steps: int = field(default=32, metadata={
        "min": 2, "max": 1000, "help": "RK4 steps of the probability-flow ODE for log p(x) (test_nll)"})


def require_points(dim: int, shape: tuple[int, ...]) -> None:
    if len(shape) > 1 or dim != 2:
        raise UserError(f"the diffusion models here are for 2D points (MLP networks, exact 2x2 divergence); "
                        f"the data set has shape {shape or (dim,)}: pick a 2D data set")


def gaussian_log_prob(y: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """log N(y; mean, cov) per row."""
    return torch.distributions.MultivariateNormal(mean, covariance_matrix=cov).log_prob(y)


def thin_frames(states: torch.Tensor, times: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """At most n frames of a path, evenly spread, first and last kept."""
    idx = torch.linspace(0, len(times) - 1, min(n, len(times)), device=times.device).round().long()
    return states[idx], times[idx]


def path_visuals(states: torch.Tensor, times: torch.Tensor) -> dict[str, torch.Tensor]:
    """A sampler's path (frames, n, d) from noise to data as pictures: the samples at its end, N_PATHS
    trajectories (at most MAX_FRAMES frames) and their points at LEVELS times along the way."""
    paths, path_t = thin_frames(states[:, :N_PATHS], times, MAX_FRAMES)
    reverse, level_t = thin_frames(states[:, :N_PATHS], times, LEVELS)
    return {"samples": states[-1], "paths": paths, "path_t": path_t, "reverse": reverse, "level_t": level_t}


def arrow_points(grid: torch.Tensor) -> torch.Tensor:
    """Every ARROW_STRIDE-th point of the trainer's square grid, both ways: where the field's arrows start."""
    side = math.isqrt(len(grid))
    return grid.reshape(side, side, -1)[::ARROW_STRIDE, ::ARROW_STRIDE].reshape(-1, grid.shape[1])


def field_visuals(grid: torch.Tensor, field: torch.Tensor) -> dict[str, torch.Tensor]:
    """The learned field (levels, n, d) at the arrow points of the grid, and the arrows' tips for the picture:
    at each level the 90th-percentile length drawn as ARROW_FRACTION of the grid's width, longer ones capped
    there (near a mode a score is huge), so that directions stay readable."""
    x = arrow_points(grid)
    norm = field.norm(dim=-1, keepdim=True)
    typical = torch.quantile(norm, 0.9, dim=1, keepdim=True).clamp_min(1e-12)
    width = grid[:, 0].max() - grid[:, 0].min()
    length = ARROW_FRACTION * width * torch.minimum(norm / typical, torch.ones_like(norm))
    return {"arrows_x": x, "field": field, "arrow_tips": x + field / norm.clamp_min(1e-12) * length}


class DiffusionModel(GenerativeModel):
    family = "diffusion"
    averaged = "net_ema"
    time_label: ClassVar[str] = "t"  # the name of the path's time on the view's slider
    field_label: ClassVar[str] = "score ∇log p_t"

    def __init__(self, config, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        require_points(dim, shape)
        def network() -> TimeMLP:
            return TimeMLP(dim, dim, config.hidden, config.depth, config.x_frequencies)

        self.net = network()
        self.net_ema = None
        if config.ema > 0:
            self.net_ema = averaged_copy(self.net, network)
            self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))  # saved: a resumed run goes on
        self.register_buffer("data_mean", torch.zeros(dim))
        self.register_buffer("data_cov", torch.eye(dim))
        self.probe: torch.Tensor | None = None

    def init_from_data(self, x: torch.Tensor) -> None:
        """The data's mean and covariance: the Gaussian part of the prior at the noise end."""
        self.data_mean.copy_(x.mean(0))
        self.data_cov.copy_(torch.cov(x.T).reshape(self.dim, self.dim))

    def set_probe(self, x: torch.Tensor) -> None:
        self.probe = x[:N_PATHS]

    @property
    def shown_net(self) -> nn.Module:
        """What samples, fields and likelihoods use: the weights' moving average θ̄ where `ema` is on (`averaging`),
        else the trained network; the losses always train `net`."""
        return self.net if self.net_ema is None else self.net_ema

    def after_step(self, phase: str) -> None:
        if self.net_ema is not None:
            self.ema_updates += 1
            update_average(self.net_ema, self.net, self.config.ema, self.ema_updates)

    @property
    def device(self) -> torch.device:
        return self.data_mean.device

    def noise(self, shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
        """z ~ N(0, I) of the model's device and dtype."""
        return torch.randn(shape, generator=generator, device=self.device, dtype=self.data_mean.dtype)

    # -- what each model supplies ----------------------------------------------------------------
    def sample_path(self, n: int, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The sampler's states from noise to data (frames, n, d) and each frame's time (frames,)."""
        raise NotImplementedError

    def noised(self, x0: torch.Tensor, t: float, generator: torch.Generator | None) -> torch.Tensor:
        """A draw of the forward process q(x_t | x_0) at time t."""
        raise NotImplementedError

    def field(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """The learned field at time t (a velocity or a score), for the arrows."""
        raise NotImplementedError

    def pf_times(self) -> torch.Tensor:
        """The ODE's time grid from the data end to the noise end (nll_steps + 1 points)."""
        raise NotImplementedError

    def pf_velocity(self, y: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def pf_prior_log_prob(self, y: torch.Tensor) -> torch.Tensor:
        """log density of the path's marginal at the noise end."""
        raise NotImplementedError

    def pf_encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ODE's coordinates y of a data point and log |det ∂y/∂x| (identity by default)."""
        return x, x.new_zeros(len(x))

    # -- using the model -------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        return self.sample_path(n, self.rng)[0][-1]

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) through the probability-flow ODE, LOG_PROB_BATCH points at a time."""
        return torch.cat([self._log_prob(b) for b in x.split(LOG_PROB_BATCH)])

    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:
        y, log_det = self.pf_encode(x)
        y_noise, div_integral = ode.log_density_change(self.pf_velocity, y, self.pf_times().to(x))
        return self.pf_prior_log_prob(y_noise) + div_integral + log_det

    @torch.no_grad()
    def visuals(self, grid: torch.Tensor | None) -> dict[str, np.ndarray]:
        """Samples; trajectories from noise to data; at LEVELS times along them the reverse-process points,
        the forward process q(x_t | x_0) of held-out points and the learned field on a coarse grid (`field_visuals`)."""
        generator = torch.Generator(self.device).manual_seed(VISUAL_SEED)
        out = path_visuals(*self.sample_path(N_SAMPLES, generator))
        if self.probe is not None:
            out["forward"] = torch.stack([self.noised(self.probe, float(t), generator) for t in out["level_t"]])
        if grid is not None:
            x = arrow_points(grid)
            out.update(field_visuals(grid, torch.stack([self.field(x, float(t)) for t in out["level_t"]])))
        return {k: v.cpu().numpy() for k, v in out.items()}
