"""Conditional flow matching with the linear interpolant (Lipman et al. 2023; Liu et al. 2023, rectified flow).

Noise x0 ~ N(0, I) at t = 0, data x1 at t = 1, and the straight path between a pair:
    x_t = (1 - t) x0 + t x1,   d x_t/dt = x1 - x0.
The network v(x, t) regresses that conditional velocity (Lipman et al., eq. 9 with σ_min = 0):
    L_CFM = E_{t ~ U[0,1], (x0, x1)} ‖v(x_t, t) - (x1 - x0)‖²,
whose minimiser is the marginal velocity v*(x, t) = E[x1 - x0 | x_t = x]; dx/dt = v* carries
N(0, I) at t = 0 to the data at t = 1. With `ot` the pairs of a minibatch are not independent
but an exact optimal-transport assignment under ‖x0 - x1‖² (Tong et al. 2024, OT-CFM;
Pooladian et al. 2023), which straightens the paths. Sampling solves the ODE from t = 0 to 1
with a fixed-step solver; the likelihood solves it back from 1 to 0 (`DiffusionModel.log_prob`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from scipy.optimize import linear_sum_assignment

from ..flows.flow import standard_normal_log_prob
from . import ode
from .base import DiffusionConfig, DiffusionModel


def cfm_loss(v: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor, x1: torch.Tensor,
             t: torch.Tensor) -> torch.Tensor:
    """E ‖v(x_t, t) - (x1 - x0)‖² over the batch, x_t = (1 - t) x0 + t x1 (summed over dimensions)."""
    x_t = (1 - t[:, None]) * x0 + t[:, None] * x1
    return ((v(x_t, t) - (x1 - x0)) ** 2).sum(1).mean()


def ot_pairing(x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs (x0[i_k], x1[j_k]) of the permutation minimising Σ_k ‖x0[i_k] - x1[j_k]‖² (Hungarian method)."""
    rows, cols = linear_sum_assignment(torch.cdist(x0, x1).square().detach().cpu().numpy())
    return x0[torch.as_tensor(rows, device=x0.device)], x1[torch.as_tensor(cols, device=x1.device)]


@dataclass(frozen=True)
class FlowMatchingConfig(DiffusionConfig):
    ot: bool = field(default=False, metadata={"help": "pair noise and data of a minibatch by exact optimal transport"})
    solver: str = field(default="midpoint", metadata={"choices": ode.METHODS, "help": "ODE solver for sampling"})
    sample_steps: int = field(default=25, metadata={"min": 1, "max": 1000, "help": "solver steps from noise to data"})


class FlowMatching(DiffusionModel):
    Config = FlowMatchingConfig
    field_label = "velocity v(x, t)"

    def loss(self, x: torch.Tensor, phase: str = "model") -> dict[str, torch.Tensor]:
        x0 = self.noise(x.shape, self.rng)
        t = torch.rand(len(x), generator=self.rng, device=x.device)
        x0, x1 = ot_pairing(x0, x) if self.config.ot else (x0, x)
        loss = cfm_loss(self.net, x0, x1, t)
        return {"loss": loss}

    def sample_path(self, n, generator):
        z = self.noise((n, self.dim), generator)
        times = torch.linspace(0, 1, self.config.sample_steps + 1, device=self.device)
        return ode.path(self.shown_net, z, times, self.config.solver), times

    def noised(self, x0, t, generator):
        """x_t = (1 - t) z + t x with z ~ N(0, I): the data point x as the path's end x1."""
        z = self.noise(x0.shape, generator)
        return (1 - t) * z + t * x0

    def field(self, x, t):
        return self.shown_net(x, torch.tensor(t, device=x.device))

    def pf_times(self):
        return torch.linspace(1, 0, self.config.nll_steps + 1)

    def pf_velocity(self, y, u):
        return self.shown_net(y, u)

    def pf_prior_log_prob(self, y):
        return standard_normal_log_prob(y)
