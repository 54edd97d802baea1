"""Stop conditions: a run ends by itself when a logged curve reaches a target or stops improving.

The step budget (`TrainConfig.steps`) is the third condition; the training loop checks it
itself. A condition looks at the logged history (name -> [(step, value), ...], recorded by
step: `training.history`) after every block of steps and returns why training should stop,
or None. Both smooth over windows of steps, so one lucky minibatch decides nothing, and
what they decide depends on the steps alone.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import UserError

History = dict[str, list[tuple[int, float]]]
TARGET_WINDOW = 10  # a target is met by the mean over the last this many steps
# Unambiguous (each character can match one way only), so a failed match costs linear time; ASCII digits only.
TARGET = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*([<>])\s*([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)")
MAX_TARGET_LENGTH = 100


def window_means(rows: list[tuple[int, float]], window: int) -> list[tuple[int, float]]:
    """Means of the rows in consecutive windows of `window` steps (steps 1..w, w+1..2w, ...), at each's last step."""
    windows: dict[int, list[tuple[int, float]]] = {}
    for step, value in rows:
        windows.setdefault((step - 1) // window, []).append((step, value))
    return [(w[-1][0], sum(v for _, v in w) / len(w)) for w in windows.values()]


@dataclass(frozen=True)
class Target:
    """Stop once `metric`, averaged over the last TARGET_WINDOW steps, is below (`<`) or above (`>`) `value`."""

    metric: str
    op: str
    value: float

    def check(self, history: History, step: int) -> str | None:
        if self.metric not in history:
            return f"stop_when watches {self.metric!r}, but this model logs only {', '.join(history)}"
        rows = history[self.metric]
        recent = [v for s, v in rows if s > rows[-1][0] - TARGET_WINDOW]
        last = sum(recent) / len(recent)
        if last < self.value if self.op == "<" else last > self.value:
            return f"{self.metric} = {last:.4g} reached the target {self} at step {step}"
        return None

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Plateau:
    """Stop when the loss has not improved for `patience` steps (early stopping).

    The loss is averaged over windows of patience/10 steps; an improvement is a window mean
    below the best so far by more than `tolerance`·|best|. So single noisy minibatches count
    little, and the stop comes `patience` steps after the last real improvement.
    """

    patience: int
    tolerance: float = 1e-3

    def check(self, history: History, step: int) -> str | None:
        name = watched_loss(history)
        if name is None:
            return None
        best, best_step = math.inf, 0
        for s, v in window_means(history[name], max(1, self.patience // 10)):
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
