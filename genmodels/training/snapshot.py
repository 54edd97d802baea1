"""What a watcher of a run reads: immutable snapshots, and the timeline of past visuals for replay."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TIMELINE_FRAMES = 50  # at most this many past visuals are kept for replay, evenly spread


def frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class Frame:
    """The visuals of one past step, for replaying a run."""

    step: int
    visuals: dict[str, np.ndarray]


@dataclass(frozen=True)
class Snapshot:
    """What a watcher may read. Arrays are read-only copies; nothing here changes after publishing.

    `history` is recorded by step (`training.history`); `visuals` are of step `visuals_step`.
    """

    step: int = 0
    status: str = "ready"  # ready, queued, running, paused, stopped, done, diverged, closed
    message: str = ""
    steps_per_s: float = 0.0
    history: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n, 2) of (step, value)
    visuals: dict[str, np.ndarray] = field(default_factory=dict)
    visuals_step: int = -1
    device: str = "cpu"
    queue_position: int = 0
    timeline: tuple[Frame, ...] = ()  # at most TIMELINE_FRAMES past visuals, oldest first


class Timeline:
    """Past frames for replay: every `stride`-th new frame; past the cap, the stride doubles and the
    frames off it go. The kept frames stay evenly spread over the run however long it is; the latest
    frame is always shown."""

    def __init__(self, capacity: int = TIMELINE_FRAMES):
        self.capacity = capacity
        self._kept: list[tuple[int, Frame]] = []  # (index among all frames, frame)
        self._seen, self._stride, self._latest = 0, 1, None

    def add(self, frame: Frame) -> None:
        self._latest, self._seen = frame, self._seen + 1
        if (self._seen - 1) % self._stride:
            return
        self._kept.append((self._seen - 1, frame))
        if len(self._kept) >= self.capacity:
            self._stride *= 2
            self._kept = [(k, f) for k, f in self._kept if k % self._stride == 0]

    def frames(self) -> tuple[Frame, ...]:
        if self._latest is None:
            return ()
        kept = tuple(f for _, f in self._kept)
        return kept if kept and kept[-1] is self._latest else (*kept, self._latest)
