"""Normalising flows: x = g(z) = g_K ∘ ... ∘ g_1(z), z ~ N(0, I).

Change of variables (course notes, "Invertible transformations"):
    log p(x) = log N(g^{-1}(x); 0, I) + log |det J_{g^{-1}}(x)|.
Every layer is a `Transform` that returns its output and log |det J| together.

A flow is fitted either by maximum likelihood on data (the forward KL) or, for a 2D
unnormalised target exp(-U), by the reverse KL (Rezende & Mohamed 2015): the config's
`objective` picks which.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..energy import Target, box_axes, mesh
from ..errors import UserError
from .base import GenerativeModel

OBJECTIVES = ("ml", "reverse_kl")
METRIC_SAMPLES = 10_000


class Transform(nn.Module):
    """One invertible layer. `forward` maps towards the data, `inverse` towards the base."""

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x = g(z) and log |det ∂x/∂z| per sample."""
        raise NotImplementedError

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = g^{-1}(x) and log |det ∂z/∂x| per sample."""
        raise NotImplementedError


class Inverse(Transform):
    """`transform` with its directions swapped: forward is its inverse and inverse its forward."""

    def __init__(self, transform: Transform):
        super().__init__()
        self.transform = transform

    def forward(self, z):
        return self.transform.inverse(z)

    def inverse(self, x):
        return self.transform(x)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (z**2).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)


@dataclass(frozen=True)
class FlowConfig:
    """Fields every flow shares; each flow's config extends it."""

    objective: str = field(default="ml", metadata={
        "choices": OBJECTIVES,
        "help": "ml: maximum likelihood on the data; reverse_kl: fit exp(-U) of the target (the data are unused)"})
    target: str = field(default="U1", metadata={
        "check": Target,
        "help": "reverse KL target: U1, U2, U3, U4 or an energy in x1, x2 such as (x1**2 + 4*x2**2)/2"})
    layers: int = 8


class Flow(GenerativeModel):
    """A base N(0, I) pushed through `self.transforms` (built by the subclass)."""

    family = "flow"
    transforms: nn.ModuleList

    def __init__(self, config, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        self.target = Target(config.target) if config.objective == "reverse_kl" else None
        if self.target is not None and dim != 2:
            raise UserError(f"reverse KL targets are 2D energies, but the data set has {dim} dimensions; "
                            "pick a 2D data set (its points are not used) or the objective ml")
        self.register_buffer("z_fixed", torch.randn(1000, dim, generator=torch.Generator().manual_seed(0)))

    def closed_form_towards_fit(self, transforms: Iterable[Transform]) -> nn.ModuleList:
        """Layers that are closed form z → x (planar, radial, Sylvester), turned to where the objective runs.

        Reverse KL evaluates z → x, as Rezende & Mohamed (2015) use them; maximum likelihood
        evaluates x → z, so there each layer is inverted: its closed form normalises the data
        and sampling solves its inverse.
        """
        return nn.ModuleList(t if self.target is not None else Inverse(t) for t in transforms)

    @property
    def fits_data(self) -> bool:
        return self.target is None

    def to_base(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = g^{-1}(x) and the summed log |det ∂z/∂x|."""
        log_det = x.new_zeros(x.shape[0])
        for t in reversed(self.transforms):
            x, ld = t.inverse(x)
            log_det = log_det + ld
        return x, log_det

    def from_base(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x = g(z) and the summed log |det ∂x/∂z|."""
        log_det = z.new_zeros(z.shape[0])
        for t in self.transforms:
            z, ld = t(z)
            log_det = log_det + ld
        return z, log_det

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        z, log_det = self.to_base(x)
        return standard_normal_log_prob(z) + log_det

    def loss(self, x: torch.Tensor, phase: str = "model") -> dict[str, torch.Tensor]:
        """Maximum likelihood: the mean negative log-likelihood (forward KL); or the reverse KL."""
        if self.target is not None:
            return self.reverse_kl(x.shape[0])
        nll = -self.log_prob(x).mean()
        return {"loss": nll, "nll": nll}

    def reverse_kl(self, n: int) -> dict[str, torch.Tensor]:
        """The free energy E_q[U(x)] - H(q) = KL(q ‖ p) - log Z of q = g_# N(0, I) (Rezende & Mohamed 2015).

        With x = g(z), z ~ N(0, I): -log q(x) = -log N(z) + log |det ∂x/∂z| estimates the entropy H(q).
        """
        z = torch.randn(n, self.dim, device=self.device)
        x, log_det = self.from_base(z)
        energy = self.target.energy(x).mean()
        entropy = (log_det - standard_normal_log_prob(z)).mean()
        return {"loss": energy - entropy, "energy": energy, "entropy": entropy}

    def transform_stages(self, z: torch.Tensor) -> list[torch.Tensor]:
        """The points after each layer: [z, g_1(z), g_2(g_1(z)), ..., x] (the notes' Fig. 6)."""
        stages = [z]
        for t in self.transforms:
            z, _ = t(z)
            stages.append(z)
        return stages

    def sample(self, n: int) -> torch.Tensor:
        return self.from_base(torch.randn(n, self.dim, device=self.device))[0]

    def metrics(self, x_test: torch.Tensor) -> dict[str, float]:
        """For reverse KL: KL(q ‖ p) in nats (Monte Carlo over q, log Z by quadrature) and the
        effective sample size per sample of the importance weights p/q (1 when q = p)."""
        if self.target is None:
            return {}
        z = torch.randn(METRIC_SAMPLES, self.dim, device=self.device,
                        generator=torch.Generator(self.device).manual_seed(0))
        x, log_det = self.from_base(z)
        log_w = -self.target.energy(x) - standard_normal_log_prob(z) + log_det  # log p̃(x) - log q(x)
        ess = torch.exp(2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0)) / len(log_w)
        return {"reverse_kl": self.target.log_z - float(log_w.mean()), "ess": float(ess)}

    @torch.no_grad()
    def visuals(self, grid: torch.Tensor) -> dict[str, np.ndarray]:
        """Samples; for 2D the density on the grid and the layer stages; for reverse KL the target
        density and the grid of the target's box (replacing the data's grid)."""
        out = {"samples": self.sample(1000).cpu().numpy()}
        if self.dim != 2:
            return out
        if self.target is not None:
            axis = box_axes(math.isqrt(len(grid)))
            grid = mesh(axis).to(self.device)
            out["grid_x"] = out["grid_y"] = axis.numpy()
            out["target_log_density"] = self.target.log_prob(grid).cpu().numpy()
        out["log_density"] = self.log_prob(grid).cpu().numpy()
        out["stages"] = np.stack([s.cpu().numpy() for s in self.transform_stages(self.z_fixed)])
        return out
