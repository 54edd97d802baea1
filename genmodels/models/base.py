"""The one model interface shared by every family (flows, VAEs, GANs).

A model is built from a frozen config dataclass and the data dimension. The
trainer only needs `phases`, `configure_optimizers`, `loss` and `after_step`;
the app and the metrics use `sample`, `log_prob` (where exact) and `visuals`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn


def adam(params, lr: float, **options) -> torch.optim.Adam:
    """Adam (Kingma & Ba 2015) with torch's fused kernel where the device has one, else the default.

    The fused kernel updates every parameter in one call; the default per-tensor loop runs
    about ten small ops per parameter tensor, a fifth of a small flow's step on a CPU.
    """
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True, **options)
    except RuntimeError:  # no fused kernel for this device or dtype
        return torch.optim.Adam(params, lr=lr, **options)


@dataclass(frozen=True)
class Phase:
    """One optimiser's turn in a training round, e.g. the critic's n_critic steps of a GAN."""

    name: str
    repeats: int = 1


class GenerativeModel(nn.Module):
    """Base class. Subclasses set `family`, `Config` and implement `loss` and `sample`."""

    family: ClassVar[str]
    Config: ClassVar[type]
    uses_lr: ClassVar[bool] = True  # False: the model's own settings give its learning rates (a GAN's lr_g, lr_d)
    # The submodule holding a moving average of the weights (`averaging`), in models that keep one when `ema` > 0.
    averaged: ClassVar[str | None] = None
    levels: int | None = None  # grey levels of image data (Dataset.levels), set by Setup.build_model
    # The run's random stream: every draw of the model's loss, samples and visuals takes
    # `generator=self.rng`. The training loop sets it; None (torch's global generator) only for direct use.
    rng: torch.Generator | None = None

    def __init__(self, config, dim: int, shape: tuple[int, ...] = ()):
        super().__init__()
        self.config = config
        self.dim = dim
        self.shape = shape or (dim,)

    # -- training -------------------------------------------------------------------
    def phases(self) -> list[Phase]:
        """The optimiser turns of one training round; one turn for likelihood models."""
        return [Phase("model")]

    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        """One optimiser per phase name."""
        return {"model": adam(self.parameters(), lr)}

    def loss(self, x: torch.Tensor, phase: str = "model") -> dict[str, torch.Tensor]:
        """Scalars to log; the trainer minimises the entry 'loss'."""
        raise NotImplementedError

    def after_step(self, phase: str) -> None:
        """Hook after an optimiser step (e.g. WGAN weight clipping)."""

    def init_from_data(self, x: torch.Tensor) -> None:
        """Data-dependent initialisation (e.g. ActNorm) before the first step."""

    def set_probe(self, x: torch.Tensor) -> None:
        """Held-out points the model may keep to draw in `visuals` (e.g. a VAE's test latents)."""

    # -- using the model -------------------------------------------------------------
    def sample(self, n: int) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) in nats, where the family has it."""
        raise NotImplementedError(f"{type(self).__name__} has no exact log-likelihood")

    @property
    def has_log_prob(self) -> bool:
        return type(self).log_prob is not GenerativeModel.log_prob

    @property
    def fits_data(self) -> bool:
        """False when trained without the data (a flow fitted to an energy): held-out likelihood is then moot."""
        return True

    def metrics(self, x_test: torch.Tensor) -> dict[str, float]:
        """Family-specific held-out metrics for `train --json` (e.g. a VAE's test_elbo)."""
        return {}

    def visuals(self, grid: torch.Tensor | None) -> dict[str, np.ndarray]:
        """Arrays for the family's plots, given a (G*G, 2) grid over the 2D data (empty for images)."""
        return {}

    def use_rng(self, rng: torch.Generator | None) -> None:
        """Draw from `rng` from now on, in this model and the models inside it (a VAE's flow prior)."""
        for m in self.modules():
            if isinstance(m, GenerativeModel):
                m.rng = rng

    @contextmanager
    def drawing_from(self, rng: torch.Generator):
        """Draw from `rng` within the block (visuals, metrics), then from the run's stream again."""
        previous = self.rng
        self.use_rng(rng)
        try:
            yield self
        finally:
            self.use_rng(previous)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
