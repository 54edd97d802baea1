"""A run's random streams: every draw of a run comes from generators seeded by the run's seed alone.

torch's global generator is one per process: two runs drawing from it at once (two sessions'
threads, or two runs sharing a worker) interleave their draws, and a run's result would then
depend on what ran beside it. So a run owns its generators, and model code draws with
`generator=model.rng` (`GenerativeModel.rng`).

torch's layers initialise their weights from the global generator and take none, so a run
builds its model under `building_with(g)`: a thread-local torch-function mode that hands `g`
to every random op called without a generator (nn.init's functions, `Tensor.uniform_`,
`torch.randn`, ...). Nothing else in a run needs it.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

# The random ops of torch and torch.nn.init that take a `generator` argument, by name.
RANDOM_OPS = frozenset({
    "rand", "randn", "randint", "randperm", "normal", "bernoulli", "multinomial", "poisson",
    "rand_like", "randn_like", "randint_like",
    "uniform_", "normal_", "bernoulli_", "random_", "exponential_", "cauchy_", "log_normal_", "geometric_",
    "trunc_normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "orthogonal_", "sparse_",
})


class _DrawingFrom(TorchFunctionMode):
    def __init__(self, generator: torch.Generator):
        super().__init__()
        self.generator = generator

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in RANDOM_OPS and kwargs.get("generator") is None:
            kwargs = {**kwargs, "generator": self.generator}
        return func(*args, **kwargs)


@contextmanager
def building_with(generator: torch.Generator):
    """Within this block (this thread only), random ops without a generator draw from `generator`."""
    with _DrawingFrom(generator):
        yield


@dataclass(frozen=True)
class Streams:
    """A run's two generators, independent of each other, both from its seed (numpy's SeedSequence).

    `init` builds the model (on the CPU, where modules are built); `torch` draws the batches
    and every draw of the model while it trains (on the training device).
    """

    init: torch.Generator
    torch: torch.Generator

    @classmethod
    def from_seed(cls, seed: int, device: torch.device) -> Streams:
        init_seed, torch_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
        return cls(torch.Generator().manual_seed(init_seed), torch.Generator(device=device).manual_seed(torch_seed))


def resumed_seed(seed: int, step: int) -> int:
    """The seed of a run's stream from `step` on, where its own stream's state cannot travel (another device)."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])
