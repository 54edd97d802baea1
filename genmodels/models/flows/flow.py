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

from ...data.energy import box_axes, mesh, target
from ...errors import UserError
from ..base import GenerativeModel
from ..plotbox import square_box

EVAL_BATCH = 512  # images per batch when evaluating held-out metrics
OBJECTIVES = ("ml", "reverse_kl")
METRIC_SAMPLES = 10_000  # samples of q for the reverse-KL metrics
STAGE_GRID = 32  # cells per side of each intermediate density
STAGE_DENSITIES = 5  # intermediate densities per visuals, at evenly spread k (each costs k layers on the grid)
STAGE_MARGIN = 0.5  # each stage's box: its points' central 98% widened by this fraction (`square_box`)
GRID_LINES, GRID_POINTS, GRID_RANGE = 9, 41, 3.0  # the z-grid whose image after each layer is drawn (deformed grid)


class Transform(nn.Module):
    """One invertible layer. `forward` maps towards the data, `inverse` towards the base."""

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x = g(z) and log |det ∂x/∂z| per sample."""
        raise NotImplementedError

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = g^{-1}(x) and log |det ∂z/∂x| per sample."""
        raise NotImplementedError

    def init_from_data(self, x: torch.Tensor) -> None:
        """Data-dependent initialisation from the inputs `inverse` will see (e.g. ActNorm)."""


class Inverse(Transform):
    """g^{-1} as a layer: forward and inverse swap roles (a MAF layer is an inverted IAF layer)."""

    def __init__(self, transform: Transform):
        super().__init__()
        self.transform = transform

    def forward(self, z):
        return self.transform.inverse(z)

    def inverse(self, x):
        return self.transform(x)


def run_forward(transforms, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Compose transforms listed from the base side to the data side: x and the summed log |det ∂x/∂z|."""
    log_det = z.new_zeros(z.shape[0])
    for t in transforms:
        z, ld = t(z)
        log_det = log_det + ld
    return z, log_det


def run_inverse(transforms, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of `run_forward`: z and the summed log |det ∂z/∂x|."""
    log_det = x.new_zeros(x.shape[0])
    for t in reversed(transforms):
        x, ld = t.inverse(x)
        log_det = log_det + ld
    return x, log_det


@torch.no_grad()
def init_from_data(transforms, x: torch.Tensor) -> None:
    """Push data towards the base, letting each layer initialise from what reaches it."""
    for t in reversed(transforms):
        t.init_from_data(x)
        x, _ = t.inverse(x)


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
        "check": target, "shown_when": {"objective": ("reverse_kl",)},
        "help": "reverse KL target: U1, U2, U3, U4 or an energy in x1, x2 such as (x1**2 + 4*x2**2)/2"})
    layers: int = 8


class Flow(GenerativeModel):
    """A base N(0, I) pushed through `self.transforms` (built by the subclass).

    Images (when `levels` is set) are modelled after uniform dequantisation
    (Theis et al. 2016): y = (x·(L−1) + u)/L with u ~ U[0, 1)^D turns the L grey levels
    k/(L−1) of x into a continuous y in [0, 1]^D, and log p(y) then bounds the discrete
    likelihood: log P(x) ≥ E_u log p(y) − D log L. For images `log_prob(x)` is log p(y) at
    one fresh draw of u (so `test_nll` is nats per image of the dequantised density, an
    unbiased estimate of E_u[−log p(y)]) and `metrics` adds bits per dimension
    bpd = (nll/D + log L)/log 2, an upper bound on −log₂ P(x)/D.
    """

    family = "flow"
    transforms: nn.ModuleList

    def __init__(self, config, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        self.target = target(config.target) if config.objective == "reverse_kl" else None
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

    def dequantise(self, x: torch.Tensor) -> torch.Tensor:
        """y = (x·(L−1) + u)/L for image data, x itself for continuous data."""
        if self.levels is None:
            return x
        return (x * (self.levels - 1) + torch.rand_like(x, generator=self.rng)) / self.levels

    def quantise(self, y: torch.Tensor) -> torch.Tensor:
        """The grey level k/(L−1) whose dequantisation cell [k/L, (k+1)/L) holds y (clipped to [0, 1])."""
        if self.levels is None:
            return y
        return (y * self.levels).floor().clamp(0, self.levels - 1) / (self.levels - 1)

    def to_base(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = g^{-1}(x) and the summed log |det ∂z/∂x|."""
        return run_inverse(self.transforms, x)

    def from_base(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x = g(z) and the summed log |det ∂x/∂z|."""
        return run_forward(self.transforms, z)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        z, log_det = self.to_base(self.dequantise(x))
        return standard_normal_log_prob(z) + log_det

    def init_from_data(self, x: torch.Tensor) -> None:
        """Data-dependent layers start from the data, or for reverse KL (no data) from N(0, I)."""
        start = self.dequantise(x) if self.target is None else torch.randn_like(x, generator=self.rng)
        init_from_data(self.transforms, start)

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
        z = torch.randn(n, self.dim, device=self.device, generator=self.rng)
        x, log_det = self.from_base(z)
        energy = self.target.energy(x).mean()
        entropy = (log_det - standard_normal_log_prob(z)).mean()
        return {"loss": energy - entropy, "energy": energy, "entropy": entropy}

    def transform_stages(self, z: torch.Tensor) -> list[torch.Tensor]:
        """The points after each layer: [z, g_1(z), g_2(g_1(z)), ..., x] (the notes' Fig. 6)."""
        return self.stages_and_log_dets(z)[0]

    def stages_and_log_dets(self, z: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The points after each layer and each layer's log |det ∂y_k/∂y_{k-1}| at them."""
        stages, log_dets = [z], []
        for t in self.transforms:
            z, log_det = t(z)
            stages.append(z)
            log_dets.append(log_det)
        return stages, log_dets

    def stage_log_density(self, k: int, y: torch.Tensor) -> torch.Tensor:
        """log p_k(y) of the k-th intermediate variable y_k = g_k ∘ ... ∘ g_1(z), z ~ N(0, I): by change of
        variables, log N(g_{1..k}^{-1}(y); 0, I) + log |det ∂g_{1..k}^{-1}/∂y| (k = K: the model's log p(x))."""
        z, log_det = run_inverse(self.transforms[:k], y)
        return standard_normal_log_prob(z) + log_det

    def stage_views(self, stages: list[torch.Tensor], size: int = STAGE_GRID) -> dict[str, np.ndarray]:
        """The density of y_k at STAGE_DENSITIES evenly spread k (`stage_k`, from 0 to K), each on a size x size
        grid over a box around stage k's points (the notes' Fig. 6 as densities): `stage_box` rows
        x0, x1, y0, y1 and `stage_log_density` rows of size*size values."""
        ks = np.unique(np.rint(np.linspace(0, len(stages) - 1, STAGE_DENSITIES)).astype(int))
        boxes, densities = [], []
        for k in ks.tolist():
            y = stages[k]
            box = square_box(y.cpu().numpy(), STAGE_MARGIN)
            axes = [torch.linspace(a, b, size, dtype=y.dtype, device=y.device) for a, b in (box[:2], box[2:])]
            grid = torch.stack(torch.meshgrid(*axes, indexing="xy"), -1).reshape(-1, 2)
            boxes.append(box)
            densities.append(self.stage_log_density(k, grid).cpu().numpy())
        return {"stage_k": ks, "stage_box": np.array(boxes, dtype=np.float32),
                "stage_log_density": np.stack(densities)}

    def grid_stages(self) -> np.ndarray:
        """The deformed grid: straight lines of constant z_1 and of constant z_2 over [-3, 3]² in the base,
        after each layer, (K + 1, 2 * GRID_LINES, GRID_POINTS, 2); stage 0 is the straight grid."""
        like = dict(dtype=self.z_fixed.dtype, device=self.z_fixed.device)
        t = torch.linspace(-GRID_RANGE, GRID_RANGE, GRID_POINTS, **like)
        ticks = torch.linspace(-GRID_RANGE, GRID_RANGE, GRID_LINES, **like)
        rows = torch.stack(torch.broadcast_tensors(t[None, :], ticks[:, None]), -1)  # z_2 fixed on each line
        lines = torch.cat([rows, rows.flip(-1)])  # then z_1 fixed
        stages = self.stages_and_log_dets(lines.reshape(-1, 2))[0]
        return torch.stack(stages).reshape(len(stages), *lines.shape).cpu().numpy()

    def sample(self, n: int) -> torch.Tensor:
        return self.quantise(self.from_base(torch.randn(n, self.dim, device=self.device, generator=self.rng))[0])

    @torch.no_grad()
    def metrics(self, x_test: torch.Tensor) -> dict[str, float]:
        """Reverse KL: see `reverse_kl_metrics`. Images: test_nll (nats per image) and test_bpd
        from one and the same dequantisation draw."""
        if self.target is not None:
            return self.reverse_kl_metrics()
        if self.levels is None:
            return {}
        nll = float(torch.cat([-self.log_prob(b) for b in x_test.split(EVAL_BATCH)]).mean())
        return {"test_nll": nll, "test_bpd": (nll / self.dim + math.log(self.levels)) / math.log(2)}

    def reverse_kl_metrics(self) -> dict[str, float]:
        """KL(q ‖ p) in nats (Monte Carlo over q, log Z by quadrature) and the effective sample
        size per sample of the importance weights p/q (1 when q = p)."""
        z = torch.randn(METRIC_SAMPLES, self.dim, device=self.device,
                        generator=torch.Generator(self.device).manual_seed(0))
        x, log_det = self.from_base(z)
        log_w = -self.target.energy(x) - standard_normal_log_prob(z) + log_det  # log p̃(x) - log q(x)
        ess = torch.exp(2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0)) / len(log_w)
        return {"reverse_kl": self.target.log_z - float(log_w.mean()), "ess": float(ess)}

    @torch.no_grad()
    def visuals(self, grid: torch.Tensor | None) -> dict[str, np.ndarray]:
        """Samples; for 2D the density and log |det J| of g^{-1} on the grid, the layer stages (whose last
        stage is the samples: fixed base draws, so they move smoothly from frame to frame), each stage's
        density (`stage_views`), each layer's mean log-det over the base draws and the deformed grid
        (`grid_stages`); for reverse KL also the
        target density, all on the target's box (which replaces the data's grid)."""
        if grid is None and len(self.shape) == 3:
            return {"samples": self.sample(64).view(64, *self.shape[-2:]).cpu().numpy()}
        if self.dim != 2:
            return {"samples": self.sample(1000).cpu().numpy()}
        points, log_dets = self.stages_and_log_dets(self.z_fixed)
        stages = np.stack([s.cpu().numpy() for s in points])
        out = {"samples": stages[-1], "stages": stages, **self.stage_views(points),
               "layer_log_det": torch.stack(log_dets).mean(1).cpu().numpy(), "grid_stages": self.grid_stages()}
        if self.target is not None:
            axis = box_axes(math.isqrt(len(grid)))
            grid = mesh(axis).to(self.device)
            out["grid_x"] = out["grid_y"] = axis.numpy()
            out["target_log_density"] = self.target.log_prob(grid).cpu().numpy()
        z, log_det = self.to_base(grid)
        out["log_density"] = (standard_normal_log_prob(z) + log_det).cpu().numpy()
        out["log_det"] = log_det.cpu().numpy()  # log |det ∂z/∂x|: where g^{-1} compresses (< 0) or stretches
        return out
