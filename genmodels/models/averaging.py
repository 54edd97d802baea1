"""An exponential moving average of a network's weights, for what a model shows (Polyak & Juditsky 1992).

After update k of the trained weights θ,
    θ̄ ← β_k θ̄ + (1 - β_k) θ,   β_k = min(β, (1 + k) / (10 + k))
(TensorFlow's ExponentialMovingAverage with num_updates), so that early on θ̄ averages the recent
steps instead of the initial weights. Training updates θ alone; samples, pictures and metrics come
from θ̄, which averages out the oscillation of the last steps: the GAN generator's about the modes
(Yazıcı et al. 2019), a diffusion network's under a constant learning rate (Ho et al. 2020, §4;
Song & Ermon 2020, technique 5).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def averaged_copy(net: nn.Module, build: Callable[[], nn.Module]) -> nn.Module:
    """θ̄_0 = θ_0: a frozen network built like `net` (built, not deep-copied, so that it is an ordinary
    registered submodule of its model), holding `net`'s weights."""
    average = build().requires_grad_(False)
    average.load_state_dict(net.state_dict())
    return average


@torch.no_grad()
def update_average(average: nn.Module, net: nn.Module, beta: float, k: int | torch.Tensor) -> None:
    """θ̄ ← β_k θ̄ + (1 - β_k) θ after update k ≥ 1, for every floating tensor (other buffers copied). k may be
    a count kept on the model's device: then β_k is computed there, and a GPU step waits for nothing."""
    on_device = isinstance(k, torch.Tensor)
    beta_k = ((1 + k) / (10 + k)).clamp(max=beta) if on_device else min(beta, (1 + k) / (10 + k))
    for avg, now in zip(average.state_dict().values(), net.state_dict().values()):
        if avg.is_floating_point():
            avg.lerp_(now, (1 - beta_k).to(avg.dtype) if on_device else 1 - beta_k)
        else:
            avg.copy_(now)
