"""torch.compile for the training step, where it pays, with an eager fallback.

Compiling a model's `loss` (and, through AOTAutograd, its backward) fuses each layer's
small element-wise ops (bias, ReLU, tanh, exp, the log-det sums) into a few generated
kernels and drops most per-op dispatch and allocation; for RealNVP on a CPU that is
1.3x the eager steps/s on 2D data (batch 512) and 1.4-1.9x on digits (batch 128), measured
interleaved on a loaded machine (BENCHMARKS.md, 2026-12-02, issue 17). The first step pays for it: seconds to a minute,
less once inductor's on-disk cache holds the graph. So it is a setting (`TrainConfig.compile`),
off by default: the app wants its first step at once, a long CLI run gains.

Anything torch.compile cannot handle (e.g. the double backward of WGAN-GP's gradient
penalty, or no C++ compiler on the machine) falls back to the eager loss, for good, with
the reason kept in `error`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..models.base import GenerativeModel

Loss = Callable[[torch.Tensor, str], dict[str, torch.Tensor]]

# Dynamo keeps one graph per code object (Flow.loss serves every flow) and per config, phase and
# shape; models of one config share theirs. A hosted app sees many configs, more than the default 8;
# past the limit, raise (so that CompiledLoss says it trains eagerly) instead of going eager silently.
# Set for our compiled calls only: importing genmodels changes no process-wide setting.
DYNAMO_SETTINGS = {"recompile_limit": 64, "fail_on_recompile_limit_hit": True}


class CompiledLoss:
    """`model.loss` compiled on first use; eager from the first failure on."""

    def __init__(self, model: GenerativeModel):
        self.model = model
        self.eager: Loss = model.loss
        self.compiled: Loss | None = torch.compile(model.loss, dynamic=False)
        self.error: str | None = None
        self.warm = False  # warm_up has run

    def __call__(self, x: torch.Tensor, phase: str = "model") -> dict[str, torch.Tensor]:
        if self.compiled is not None:
            try:
                with torch._dynamo.config.patch(**DYNAMO_SETTINGS):
                    return self.compiled(x, phase)
            except Exception as e:  # any compiler failure: the eager loss still trains
                self._fall_back(e)
        return self.eager(x, phase)

    def warm_up(self, x: torch.Tensor, phases: list[str]) -> None:
        """Compile forward and backward of every phase now, on `x`, leaving weights, gradients and the
        model's random stream as they were."""
        rng = self.model.rng
        state = rng.get_state() if rng is not None else None
        for phase in phases:
            if self.compiled is None:
                break
            try:
                self(x, phase)["loss"].backward()
            except Exception as e:  # as in __call__
                self._fall_back(e)
        if rng is not None:
            rng.set_state(state)
        self.model.zero_grad(set_to_none=True)
        self.warm = True

    def _fall_back(self, e: Exception) -> None:
        first_line = (str(e).strip().splitlines() or [""])[0][:200]
        self.compiled = None
        self.error = f"torch.compile failed ({type(e).__name__}: {first_line}); training without it"
