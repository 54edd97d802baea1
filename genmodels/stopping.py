"""Stop conditions: a run ends by itself when a logged curve reaches a target or stops improving.

The step budget (`TrainConfig.steps`) is the third condition; the Trainer checks it
itself. A condition looks at the logged history (name -> [(step, value), ...], one
entry per chunk of steps, each the chunk's mean) after every chunk and returns why
training should stop, or None.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import UserError

History = dict[str, list[tuple[int, float]]]
# Unambiguous (each character can match one way only), so a failed match costs linear time; ASCII digits only.
TARGET = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*([<>])\s*([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)")
MAX_TARGET_LENGTH = 100


@dataclass(frozen=True)
class Target:
    """Stop once the latest logged value of `metric` is below (`<`) or above (`>`) `value`."""

    metric: str
    op: str
    value: float

    def check(self, history: History, step: int) -> str | None:
        if self.metric not in history:
            return f"stop_when watches {self.metric!r}, but this model logs only {', '.join(history)}"
        last = history[self.metric][-1][1]
        if last < self.value if self.op == "<" else last > self.value:
            return f"{self.metric} = {last:.4g} reached the target {self} at step {step}"
        return None

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Plateau:
    """Stop when the loss has not improved for `patience` steps (early stopping).

    An improvement is a logged value below the best so far by more than
    `tolerance`·|best|. Each logged value is already a chunk's mean, so single noisy
    minibatches count little.
    """

    patience: int
    tolerance: float = 1e-3

    def check(self, history: History, step: int) -> str | None:
        name = watched_loss(history)
        if name is None:
            return None
        best, best_step = math.inf, 0
        for s, v in history[name]:
            if v < best - self.tolerance * abs(best if math.isfinite(best) else v):
                best, best_step = v, s
        if step - best_step >= self.patience:
            return f"{name} has not improved on {best:.4g} (step {best_step}) for {step - best_step} steps"
        return None


def watched_loss(history: History) -> str | None:
    """The curve a plateau watches: 'loss' when logged, else the first '*loss' (a GAN's 'G_loss')."""
    if "loss" in history:
        return "loss"
    return next((k for k in history if k.endswith("loss")), None)


def parse_target(text: str) -> Target | None:
    """'loss < 1.3' -> Target('loss', '<', 1.3); '' -> None; anything else is a UserError.

    The length is checked first, so no text costs more than a match of MAX_TARGET_LENGTH characters.
    """
    if len(text) > MAX_TARGET_LENGTH:
        raise UserError(f"stop_when is {len(text):,} characters long; a target such as 'loss < 1.3' needs at most "
                        f"{MAX_TARGET_LENGTH}")
    if not text.strip():
        return None
    m = TARGET.fullmatch(text.strip())
    if m is None:
        raise UserError(f"stop_when must look like 'loss < 1.3' (a logged curve, < or >, a number), got {text!r}")
    value = float(m[3])
    if not math.isfinite(value):
        raise UserError(f"stop_when needs a finite number, got {m[3]!r}")
    return Target(m[1], m[2], value)


def conditions(stop_when: str, patience: int) -> list[Target | Plateau]:
    """The stop conditions a TrainConfig asks for, besides its step budget."""
    target = parse_target(stop_when)
    return [c for c in (target, Plateau(patience) if patience else None) if c is not None]
