"""The peers our flows are timed against, each trained by its own documented loop (benchmarks only).

- `plain-torch`: RealNVP as a tutorial writes it in plain torch (`PlainRealNVP`), no library;
- `zuko` (Rozet et al.) and `normflows` (Stimper et al. 2023), optional dev requirements
  (requirements-dev.txt): their RealNVP with our RealNVP config's layers, width and depth, and
  zuko's NSF as zuko's guide builds it (the fastest of them to a good fit on the 2D sets).

Each is trained as its documentation trains it (`OwnLoop`): loss = −mean log p(x), zero_grad,
backward, `torch.optim.Adam` with the documented learning rate (torch's default per-tensor
Adam on a CPU), on batches drawn with replacement from the training set: no trainer of ours,
no history, no divergence checks. Our models go through the app's `Trainer`, with all of that.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..data import Dataset
from ..models.flows.realnvp import RealNVPConfig
from ..models.nets import mlp
from ..training.rng import building_with

LogProb = Callable[[torch.Tensor], torch.Tensor]


class PlainRealNVP(nn.Module):
    """RealNVP written the obvious way (Dinh et al. 2017, eq. 4-9): binary masks b that alternate,
    separate scale and shift networks s and t of the whole masked input, and towards the base
        z = b ⊙ x + (1 − b) ⊙ (x ⊙ exp(s(b ⊙ x)) + t(b ⊙ x)),   log |det ∂z/∂x| = Σ (1 − b) ⊙ s(b ⊙ x),
    with s bounded by a final tanh; each of s and t has our config's depth and width.
    """

    def __init__(self, config: RealNVPConfig, dim: int):
        super().__init__()
        alternating = (torch.arange(dim) + torch.arange(config.layers)[:, None]) % 2
        self.register_buffer("masks", alternating.float())
        self.s = nn.ModuleList(nn.Sequential(mlp(dim, dim, config.hidden, config.depth), nn.Tanh())
                               for _ in range(config.layers))
        self.t = nn.ModuleList(mlp(dim, dim, config.hidden, config.depth) for _ in range(config.layers))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        log_det = x.new_zeros(len(x))
        for b, s_net, t_net in zip(self.masks.flip(0), self.s[::-1], self.t[::-1]):
            x_a = b * x
            s, t = (1 - b) * s_net(x_a), (1 - b) * t_net(x_a)
            x = x_a + (1 - b) * (x * torch.exp(s) + t)
            log_det = log_det + s.sum(-1)
        return torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(-1) + log_det


def plain_realnvp(config: RealNVPConfig, dim: int) -> tuple[nn.Module, LogProb]:
    flow = PlainRealNVP(config, dim)
    return flow, flow.log_prob


def zuko_realnvp(config: RealNVPConfig, dim: int) -> tuple[nn.Module, LogProb]:
    """zuko.flows.RealNVP: alternating checkered masks, monotonic affine couplings."""
    import zuko

    flow = zuko.flows.RealNVP(dim, transforms=config.layers, hidden_features=[config.hidden] * config.depth)
    return flow, lambda x: flow().log_prob(x)


def zuko_nsf(config: RealNVPConfig, dim: int) -> tuple[nn.Module, LogProb]:
    """zuko.flows.NSF as zuko's training guide builds it: 3 transforms, hidden features [128, 128]."""
    import zuko

    flow = zuko.flows.NSF(dim, transforms=3, hidden_features=[128, 128])
    return flow, lambda x: flow().log_prob(x)


def normflows_realnvp(config: RealNVPConfig, dim: int) -> tuple[nn.Module, LogProb]:
    """normflows' README RealNVP: AffineCouplingBlock (channel split) + swap permutation per layer."""
    import normflows as nf

    half = dim // 2
    layers = []
    for _ in range(config.layers):
        net = nf.nets.MLP([dim - half] + [config.hidden] * config.depth + [2 * half], init_zeros=True)
        layers += [nf.flows.AffineCouplingBlock(net), nf.flows.Permute(dim, mode="swap")]
    flow = nf.NormalizingFlow(nf.distributions.DiagGaussian(dim), layers)
    return flow, flow.log_prob


@dataclass(frozen=True)
class Peer:
    """One peer: who wrote it, which of our models it stands beside, and how its docs train it."""

    library: str
    model: str  # our registry's name for what it is ("realnvp", "nsf")
    build: Callable[[RealNVPConfig, int], tuple[nn.Module, LogProb]]
    lr: float = 1e-3  # its documentation's Adam
    weight_decay: float = 0.0
    package: str | None = None  # what must be installed; None: plain torch
    speed: bool = True  # also timed in steps/s (an equivalent of our RealNVP); else time to target only


PEERS = (
    Peer("plain-torch", "realnvp", plain_realnvp),
    Peer("zuko", "realnvp", zuko_realnvp, package="zuko"),
    Peer("normflows", "realnvp", normflows_realnvp, lr=5e-4, weight_decay=1e-5, package="normflows"),
    Peer("zuko", "nsf", zuko_nsf, package="zuko", speed=False),
)
PACKAGES = ("zuko", "normflows")


def available() -> list[Peer]:
    """The peers whose package is importable here (no import of the missing ones)."""
    return [p for p in PEERS if p.package is None or importlib.util.find_spec(p.package) is not None]


class PeerModel(nn.Module):
    """A peer's flow with the `log_prob` our metrics call."""

    def __init__(self, flow: nn.Module, log_prob: LogProb):
        super().__init__()
        self.flow, self._log_prob = flow, log_prob

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self._log_prob(x)


class OwnLoop:
    """A peer trained by its documented loop, synchronously in the caller's thread, on `batch` points
    a step drawn with replacement (seeded) from the training set. It answers what the benchmark asks
    of our `Trainer`: `run`, `timed_rate`, `model`, `status`, and `training` (its step and optimisers)."""

    def __init__(self, peer: Peer, config: RealNVPConfig, data: Dataset, batch: int, device: torch.device,
                 seed: int = 0):
        with building_with(torch.Generator().manual_seed(seed)):  # their initialisers take no generator
            self.model = PeerModel(*peer.build(config, data.dim)).to(device)
        self.optimizers = {"model": torch.optim.Adam(self.model.parameters(), lr=peer.lr,
                                                     weight_decay=peer.weight_decay)}
        self.x = torch.as_tensor(data.train, device=device)
        self.generator = torch.Generator(device).manual_seed(seed)
        self.batch, self.step, self.status = batch, 0, "running"

    @property
    def training(self) -> OwnLoop:
        return self

    def run(self, steps: int) -> OwnLoop:
        """`steps` steps of the documented loop; status 'diverged' (and no more steps) at a non-finite loss."""
        optimizer = self.optimizers["model"]
        for _ in range(steps):
            x = self.x[torch.randint(len(self.x), (self.batch,), generator=self.generator, device=self.x.device)]
            loss = -self.model.log_prob(x).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            self.step += 1
            if not math.isfinite(loss.item()):
                self.status = "diverged"
                break
        return self

    def timed_rate(self, seconds: float, block: int = 10) -> tuple[float, float]:
        """Steps per wall-clock second and per CPU second of this thread, over about `seconds`."""
        before, start, cpu = self.step, time.perf_counter(), time.thread_time()
        while time.perf_counter() - start < seconds and self.status == "running":
            self.run(block)
        steps = self.step - before
        return steps / (time.perf_counter() - start), steps / max(time.thread_time() - cpu, 1e-9)

    def close(self) -> None:
        """Nothing runs in the background."""
