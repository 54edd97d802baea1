"""A process-wide, round-robin cap on concurrently training threads.

A hosted instance serves many sessions; each training thread asks for a slot
before running and gives it back when it pauses or ends, so the machine stays
responsive. Threads that find no free slot wait in a first-come-first-served
queue whose position the UI shows. A thread that has held its slot for a time
slice while others wait gives it up and queues again, so a long run cannot
starve a class.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable

from .limits import Limits

MIN_TURN = 0.2  # seconds: a turn is at least two training blocks


class Limiter:
    def __init__(self, slots: int, time_slice: float | None = None):
        self.slots, self.time_slice = max(1, slots), time_slice
        self._lock = threading.Lock()
        self._queue: deque[object] = deque()
        self._active: dict[int, float] = {}  # id(owner) -> when it took its slot
        self._wake: dict[int, Callable[[], None]] = {}  # id(owner) -> how to tell it a slot may be its

    def try_acquire(self, owner: object, wake: Callable[[], None] | None = None) -> bool:
        """Take a slot if `owner` is at the head of the queue and one is free; else join the queue, and
        `wake()` is called when a slot frees with `owner` at the head (so it need not poll)."""
        with self._lock:
            if wake is not None:
                self._wake[id(owner)] = wake
            if id(owner) in self._active:
                return True
            if owner not in self._queue:
                self._queue.append(owner)
            if self._queue[0] is owner and len(self._active) < self.slots:
                self._queue.popleft()
                self._active[id(owner)] = time.monotonic()
                return True
            return False

    def release(self, owner: object) -> None:
        with self._lock:
            self._active.pop(id(owner), None)
            self._wake.pop(id(owner), None)
            if owner in self._queue:
                self._queue.remove(owner)
            head = self._queue[0] if self._queue and len(self._active) < self.slots else None
            wake = self._wake.get(id(head)) if head is not None else None
        if wake is not None:  # outside the lock: the woken owner takes it to acquire
            wake()

    def should_yield(self, owner: object) -> bool:
        """True when `owner` has held its slot for its turn and someone is waiting. A turn is a time slice
        shared by the queue (at least MIN_TURN): every waiting run trains again within about a slice or
        two, however long the queue (a class of 50 on two cores)."""
        with self._lock:
            since = self._active.get(id(owner))
            if since is None or not self._queue or self.time_slice is None:
                return False
            turn = max(min(MIN_TURN, self.time_slice), self.time_slice / len(self._queue))
            return time.monotonic() - since >= turn

    def position(self, owner: object) -> int:
        """1-based place in the queue, 0 when holding a slot or not waiting."""
        with self._lock:
            return self._queue.index(owner) + 1 if owner in self._queue else 0

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._active)


@functools.cache
def shared_limiter() -> Limiter:
    """The limiter of Trainers used in this process (benchmarks, tests; the app's runs use their host's):
    as many slots as the machine's hosts train at once, read from the environment on first use."""
    limits = Limits.from_env()
    return Limiter(limits.hosts * limits.max_trainers, limits.time_slice)
