"""How often live pages refresh: as often as asked (GENMODELS_REFRESH) while the server keeps up, less
often, and saying so, when it cannot.

Every open page of a class redraws on a browser-side timer, all in this one process. Rather
than letting redraws queue (every page late, then disconnected), the server measures its own
CPU use: above WEB_SHARE of a core it lengthens the refresh period of every page in proportion,
and shortens it again when the load falls. The periods are a few doubling steps; a page takes the
period of the moment it runs in full (opened, or a button pressed).
"""

from __future__ import annotations

import threading
import time

import streamlit as st

from .session import limits

WEB_SHARE = 0.5  # of one core at most for drawing pages: the rest of the machine trains
SAMPLE_SECONDS = 2.0  # the CPU use is measured over this long
STEPS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # refresh periods a page may be given, seconds


class Pace:
    """The refresh period pages get: long enough that the open pages' redraws take at most `share` of a core,
    judged two ways: ahead, from the pages drawing now and a redraw's measured cost (a class arriving), and
    after, from this process's CPU use (everything else it does)."""

    def __init__(self, share: float = WEB_SHARE, clock=time.monotonic, cpu=time.process_time):
        self.share, self._clock, self._cpu = share, clock, cpu
        self._lock = threading.Lock()
        self._since, self._cpu_since = clock(), cpu()
        self.load = 0.0  # the process's CPU use in the last sample, in cores
        self._scale = 1.0  # how much longer than asked pages refresh now, from the CPU use
        self._cost = 0.0  # CPU seconds of one redraw, a moving average
        self._pages: dict[str, float] = {}  # page -> when it last redrew

    def record(self, page: str, cpu_s: float) -> None:
        """A page redrew, costing `cpu_s` CPU seconds."""
        with self._lock:
            self._cost = cpu_s if self._cost == 0 else 0.9 * self._cost + 0.1 * cpu_s
            self._pages[page] = self._clock()

    def period(self, asked: float) -> float:
        """The refresh period for a page that asks for `asked` seconds, under the load measured now."""
        with self._lock:
            now = self._clock()
            if now - self._since >= SAMPLE_SECONDS:
                self.load = (self._cpu() - self._cpu_since) / (now - self._since)
                self._scale = min(max(1.0, self._scale * self.load / self.share), STEPS[-1] / STEPS[0])
                self._since, self._cpu_since = now, self._cpu()
                self._pages = {k: t for k, t in self._pages.items() if now - t < STEPS[-1] + SAMPLE_SECONDS}
            wanted = max(asked * self._scale, len(self._pages) * self._cost / self.share)
        return next((s for s in STEPS if s >= wanted - 1e-9), STEPS[-1]) if wanted > asked else asked

    def slowed(self, asked: float) -> bool:
        return self.period(asked) > asked


PACE = Pace()


def live_period(active: bool) -> float:
    """A live panel's timer: the paced refresh period while its runs train, every 2 s at least otherwise."""
    period = PACE.period(limits().refresh)
    return period if active else max(2.0, period)


def keep_time(was_active: bool, active: bool, period: float) -> None:
    """At each tick of a live fragment: a full rerun (a slower timer, fresh buttons) when its training ended;
    a note when this page refreshes slower than asked. A page's period is chosen when the page runs in full
    (opened, a button): changing every open page's timer at once costs each a full rerun just when the
    server is busiest (measured: the load test's N = 25 p95 refresh went from 0.7 to 1.4 s)."""
    if was_active and not active:
        st.rerun()
    if was_active and period > limits().refresh:
        st.caption(f"this server is busy (drawing pages takes {PACE.load:.1f} CPU cores): this page refreshes "
                   f"every {period:g} s instead of {limits().refresh:g} s; training goes on at full speed")
