"""A process-wide, first-come-first-served cap on concurrently training threads.

A hosted instance serves many sessions; each training thread asks for a slot
before running and gives it back when it pauses or ends, so the machine stays
responsive. Threads that find no free slot wait in a queue whose position the
UI shows.
"""

from __future__ import annotations

import os
import threading
from collections import deque


class Limiter:
    def __init__(self, slots: int):
        self.slots = max(1, slots)
        self._lock = threading.Lock()
        self._queue: deque[object] = deque()
        self._active: set[int] = set()

    def try_acquire(self, owner: object) -> bool:
        """Take a slot if `owner` is at the head of the queue and one is free; else join the queue."""
        with self._lock:
            if id(owner) in self._active:
                return True
            if owner not in self._queue:
                self._queue.append(owner)
            if self._queue[0] is owner and len(self._active) < self.slots:
                self._queue.popleft()
                self._active.add(id(owner))
                return True
            return False

    def release(self, owner: object) -> None:
        with self._lock:
            self._active.discard(id(owner))
            if owner in self._queue:
                self._queue.remove(owner)

    def position(self, owner: object) -> int:
        """1-based place in the queue, 0 when holding a slot or not waiting."""
        with self._lock:
            return self._queue.index(owner) + 1 if owner in self._queue else 0

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._active)


def default_slots() -> int:
    return int(os.environ.get("GENMODELS_MAX_TRAINERS", os.cpu_count() or 1))


LIMITER = Limiter(default_slots())
