"""A run's loss curves, recorded by step: the same run gives the same history on any machine.

Every step's value is recorded until a curve holds `capacity` points; then neighbouring
points merge pairwise (their mean, at the later step) and each point stands for twice as
many steps as before. A point is always the mean of `stride` consecutive logged steps (the
last one may hold fewer), so the resolution depends on the step count alone, never on how
many steps fitted in a time slice.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError

CAPACITY = 2000  # points per curve at most (and at least half of that once the run is longer)
MAX_CURVES, MAX_NAME = 64, 100  # what a restored history may hold (a model logs a handful of losses)


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

    def state(self) -> dict[str, np.ndarray]:
        """Everything `from_state` needs to go on exactly: the points, and (capacity, stride, count, last, sum)."""
        tail = [self.capacity, self.stride, self._count, self._last, self._sum]
        return {"steps": np.array(self.steps, np.int64), "means": np.array(self.means, np.float64),
                "tail": np.array(tail, np.float64)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], last_step: int) -> Curve:
        """The curve `state()` described, checked: a file may hold anything (steps beyond `last_step`, a
        stride that is no power of two, NaN means, more points than the capacity) and that is a UserError."""
        steps, means, tail = (np.asarray(state.get(k)) for k in ("steps", "means", "tail"))
        if steps.dtype != np.int64 or means.dtype != np.float64 or tail.dtype != np.float64 or tail.shape != (5,) \
                or steps.ndim != 1 or steps.shape != means.shape or not np.isfinite(tail).all():
            raise UserError("its loss history is malformed")
        capacity, stride, count, last = (int(v) for v in tail[:4])
        if not _consistent(steps, means, capacity, stride, count, last, last_step):
            raise UserError("its loss history is inconsistent (steps, stride or values out of range)")
        curve = cls(capacity)
        curve.stride, curve.steps, curve.means = stride, steps.tolist(), means.tolist()
        curve._sum, curve._count, curve._last = float(tail[4]), count, last
        return curve


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

    def state(self) -> dict[str, np.ndarray]:
        """Flat 'name/field' -> array (for safetensors beside the weights); `from_state` restores it exactly."""
        return {f"{name}/{k}": v for name, curve in self.curves.items() for k, v in curve.state().items()}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], last_step: int, capacity: int = CAPACITY) -> History:
        """The history `state()` wrote, of a run at `last_step`; malformed or inconsistent input is a UserError."""
        names = sorted({key.rpartition("/")[0] for key in state})
        if len(names) > MAX_CURVES or any(not n or len(n) > MAX_NAME or not n.isprintable() for n in names):
            raise UserError(f"its loss history must name 1 to {MAX_CURVES} curves of up to {MAX_NAME} characters")
        if len(state) != 3 * len(names):
            raise UserError("its loss history is malformed")
        history = cls(capacity)
        history.curves = {n: Curve.from_state({k.rpartition("/")[2]: v for k, v in state.items()
                                               if k.rpartition("/")[0] == n}, last_step) for n in names}
        return history

    def __eq__(self, other: object) -> bool:
        return isinstance(other, History) and self.capacity == other.capacity and self.curves.keys() == \
            other.curves.keys() and all(_same(self.curves[n].state(), other.curves[n].state()) for n in self.curves)


def _consistent(steps: np.ndarray, means: np.ndarray, capacity: int, stride: int, count: int, last: int,
                last_step: int) -> bool:
    """What `Curve.add` guarantees: fewer points than the capacity, a power-of-two stride, a partial point
    of fewer than `stride` steps, finite means, and steps at least a stride apart, none after `last_step`."""
    sizes = 2 <= capacity <= CAPACITY and len(steps) < capacity and 1 <= stride <= 2**40 and stride & (stride - 1) == 0
    if not (sizes and 0 <= count < stride and np.isfinite(means).all() and (np.diff(steps) >= stride).all()):
        return False
    points = len(steps) == 0 or stride <= steps[0] <= steps[-1] <= last_step
    partial = count == 0 or (len(steps) == 0 or steps[-1] + count <= last) and last <= last_step
    return bool(points and partial)


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
