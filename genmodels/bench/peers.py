"""The peer libraries' RealNVP, wrapped as our models so the same Trainer trains them (benchmarks only).

zuko (Rozet et al.) and normflows (Stimper et al. 2023) are optional dev
requirements (requirements-dev.txt). Each peer flow is built with the size of our
RealNVP config: the same number of coupling layers and an MLP conditioner of the
same width and depth, following each library's documented RealNVP recipe. Both
train through `Trainer` on the same pre-sampled batches, with either the optimiser of
their documentation (`torch.optim.Adam` with torch's defaults: a per-tensor loop on a
CPU) or ours (`models.base.adam`, fused), so a ratio can separate the flows' own
forward/backward code from the optimiser.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import torch

from ..models.base import GenerativeModel
from ..models.flows.realnvp import RealNVPConfig


class PeerFlow(GenerativeModel):
    """Maximum likelihood on a peer library's flow; only `log_prob` differs between peers."""

    family = "flow"
    Config = RealNVPConfig

    fused_adam = False  # True: our optimiser; False: torch's default Adam, as the peers' docs use

    def __init__(self, flow: torch.nn.Module, log_prob: Callable[[torch.Tensor], torch.Tensor], dim: int):
        super().__init__(RealNVPConfig(), dim)
        self.flow, self._log_prob = flow, log_prob

    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        if self.fused_adam:
            return super().configure_optimizers(lr)
        return {"model": torch.optim.Adam(self.parameters(), lr=lr)}

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self._log_prob(x)

    def loss(self, x: torch.Tensor, phase: str = "model") -> dict[str, torch.Tensor]:
        nll = -self.log_prob(x).mean()
        return {"loss": nll, "nll": nll}


def zuko_realnvp(config: RealNVPConfig, dim: int) -> PeerFlow:
    """zuko.flows.RealNVP: alternating checkered masks, monotonic affine couplings."""
    import zuko

    flow = zuko.flows.RealNVP(dim, transforms=config.layers, hidden_features=[config.hidden] * config.depth)
    return PeerFlow(flow, lambda x: flow().log_prob(x), dim)


def normflows_realnvp(config: RealNVPConfig, dim: int) -> PeerFlow:
    """normflows' README RealNVP: AffineCouplingBlock (channel split) + swap permutation per layer."""
    import normflows as nf

    half = dim // 2
    layers = []
    for _ in range(config.layers):
        net = nf.nets.MLP([dim - half] + [config.hidden] * config.depth + [2 * half], init_zeros=True)
        layers += [nf.flows.AffineCouplingBlock(net), nf.flows.Permute(dim, mode="swap")]
    flow = nf.NormalizingFlow(nf.distributions.DiagGaussian(dim), layers)
    return PeerFlow(flow, flow.log_prob, dim)


BUILDERS: dict[str, Callable[[RealNVPConfig, int], PeerFlow]] = {
    "zuko": zuko_realnvp,
    "normflows": normflows_realnvp,
}


def available() -> dict[str, Callable[[RealNVPConfig, int], PeerFlow]]:
    """The peers importable here (no import of the missing ones)."""
    return {name: build for name, build in BUILDERS.items() if importlib.util.find_spec(name) is not None}
