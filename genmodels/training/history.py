"""A run's loss curves, recorded by step: the same run gives the same history on any machine.

Every step's value is recorded until a curve holds `capacity` points; then neighbouring
points merge pairwise (their mean, at the later step) and each point stands for twice as
many steps as before. A point is always the mean of `stride` consecutive logged steps (the
last one may hold fewer), so the resolution depends on the step count alone, never on how
many steps fitted in a time slice.
"""

from __future__ import annotations

import numpy as np

CAPACITY = 2000  # points per curve at most (and at least half of that once the run is longer)


class Curve:
    """One logged quantity: points (step, mean of `stride` steps) plus the partial point being filled."""

    def __init__(self, capacity: int = CAPACITY):
        self.capacity, self.stride = capacity, 1
        self.steps: list[int] = []
        self.means: list[float] = []
        self._sum, self._count, self._last = 0.0, 0, 0

    def add(self, steps: np.ndarray, values: np.ndarray) -> None:
        for step, value in zip(steps.tolist(), values.tolist()):
            self._sum, self._count, self._last = self._sum + value, self._count + 1, step
            if self._count == self.stride:
                self.steps.append(step)
                self.means.append(self._sum / self._count)
                self._sum, self._count = 0.0, 0
                if len(self.steps) >= self.capacity:
                    self._merge()

    def _merge(self) -> None:
        """Halve the points: each pair becomes its mean at the later step; the stride doubles."""
        self.steps = self.steps[1::2]
        self.means = [(a + b) / 2 for a, b in zip(self.means[::2], self.means[1::2])]
        self.stride *= 2

    def array(self) -> np.ndarray:
        """(n, 2) rows of (step, value), the partial point last."""
        steps, means = self.steps, self.means
        if self._count:
            steps, means = [*steps, self._last], [*means, self._sum / self._count]
        return np.array([steps, means], dtype=np.float64).T.reshape(-1, 2)

    def rows(self) -> list[tuple[int, float]]:
        return [(int(s), float(v)) for s, v in self.array()]


class History:
    """name -> Curve. `add` takes a block of consecutive steps' values, one column per name."""

    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self.curves: dict[str, Curve] = {}

    def add(self, first_step: int, names: list[str], values: np.ndarray) -> None:
        """values: (steps, names), the row i being step first_step + i."""
        steps = np.arange(first_step, first_step + len(values))
        for j, name in enumerate(names):
            self.curves.setdefault(name, Curve(self.capacity)).add(steps, values[:, j])

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: curve.array() for name, curve in self.curves.items()}

    def rows(self) -> dict[str, list[tuple[int, float]]]:
        """name -> [(step, value), ...]: what the stop conditions read."""
        return {name: curve.rows() for name, curve in self.curves.items()}
