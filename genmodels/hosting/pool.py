"""The pool: this deployment's hosts and the runs on them, as the web process sees them.

A new run opens on the live host with the fewest runs. One pump thread per host brings the news
of all its runs in one call every POLL_SECONDS (snapshots down; heartbeats up; now and then a
state to resume from), so a page's refresh reads memory and never waits for a host. A host that
dies is replaced in the background, and each of its runs reopens at once on a live host from the
last state it sent.

Hosts are worker processes of this machine (`processes.py`, GENMODELS_HOSTS of them, one per
core by default) or, with GENMODELS_RAY_ADDRESS set, Ray actors on a cluster (`ray_hosts.py`).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ..data import USER_POINTS
from ..errors import UserError
from .host import HostLost, RunSpec, Update
from .limits import Limits

if TYPE_CHECKING:
    from .handle import RunHandle

POLL_SECONDS = 0.1
POLL_TIMEOUT = 10.0  # a host that takes longer to answer a poll (milliseconds, normally) is lost: a dead node
log = logging.getLogger(__name__)


class HostProxy(Protocol):
    """A host as the pool sees it: made at once, it starts in the background until `started` returns."""

    def started(self) -> None: ...  # waits until the host answers; HostLost if it never does
    def call(self, method: str, *args, timeout: float = ...): ...
    def stop(self) -> None: ...


class Link:
    """One host, the handles of its runs, and the thread that pumps their news."""

    def __init__(self, pool: Pool, host: HostProxy):
        self.pool, self.host, self.alive = pool, host, True
        self.ready = False  # answered once: a resumed run goes to a ready host rather than one still starting
        self.moved = threading.Event()  # set once the runs of this (lost) host are on live ones
        self.handles: weakref.WeakValueDictionary[str, RunHandle] = weakref.WeakValueDictionary()
        self.gone: list[str] = []  # runs whose handle was collected (a session that ended): close them
        threading.Thread(target=self._pump, daemon=True, name="genmodels-pump").start()

    def call(self, method: str, *args, **timeout):
        return self.host.call(method, *args, **timeout)

    def warm(self, spec: RunSpec) -> None:
        """Open and close a run of `spec` here: the host's first run pays its imports, its first dataset and
        its first pictures (1.2-1.6 s on a fresh Ray actor, where later runs open in 0.06 s)."""
        run_id = f"warm-{uuid.uuid4().hex}"
        try:
            self.call("open", run_id, spec)
            self.call("close", run_id)
        except Exception as e:  # a host that cannot warm up serves cold, or is found lost by its pump
            log.warning("warming a training host failed: %s", e)

    def _pump(self) -> None:
        if self.pool.warm_spec is not None:
            self.warm(self.pool.warm_spec)
        while self.alive:
            handles = dict(self.handles.items())
            gone, self.gone = self.gone, []
            try:
                updates = self.call("poll", {i: h.seen() for i, h in handles.items()}, tuple(gone),
                                    timeout=POLL_TIMEOUT)
                self.ready = True
            except HostLost:
                self.pool.lost(self)
                return
            except Exception:  # a bug must not silence every page of this host
                log.exception("polling a training host failed")
                updates = {}
            for run_id, update in updates.items():
                if run_id in handles:
                    handles[run_id].receive(update)
            time.sleep(POLL_SECONDS)


class Pool:
    def __init__(self, make_host: Callable[[int], HostProxy], size: int):
        self._make, self._made, self._lock = make_host, 0, threading.RLock()
        self._links: list[Link] = []
        self._where: dict[str, Link] = {}  # run id -> the link it is on
        self.warm_spec: RunSpec | None = None  # what each new host opens once before serving (`warm`)
        self._starting: list[HostProxy] = []  # made, not yet answering (`started`)
        self._closed = False  # shut down: a host that finishes starting now is stopped, not added
        for host in [self._new_host() for _ in range(size)]:  # all start at once
            self._join(host)

    @property
    def hosts(self) -> int:
        return len(self._links)

    def warm(self, spec: RunSpec) -> None:
        """Warm every host with a run of `spec`, now in the background and each host started later before it
        serves: a class's first pages then do not all wait for the same cold host."""
        with self._lock:
            self.warm_spec, links = spec, list(self._links)
        for link in links:
            threading.Thread(target=link.warm, args=(spec,), daemon=True, name="genmodels-warm").start()

    def open(self, handle: RunHandle, state: dict | None = None, running: bool = False, message: str = "") -> Update:
        """Open `handle`'s run on the least busy live host (from `state`, training on if `running`)."""
        with self._lock:
            if not self._links:
                raise UserError("no training host is running on this server; ask its operator to restart it")
            link = min(self._links, key=lambda k: (not k.ready, len(k.handles)))
        try:
            update = link.call("open", handle.id, handle.spec, handle.version, state, running, message)
        except HostLost:
            self.lost(link)
            return self.open(handle, state, running, message)
        with self._lock:
            link.handles[handle.id] = handle
            self._where[handle.id] = link
        handle.link = link
        weakref.finalize(handle, self._gone, handle.id)
        return update

    def close(self, run_id: str) -> None:
        link = self._where.pop(run_id, None)
        if link is not None:
            link.handles.pop(run_id, None)
            try:
                link.call("close", run_id)
            except HostLost:
                pass  # its host is gone, and the run with it

    def _gone(self, run_id: str) -> None:
        link = self._where.pop(run_id, None)
        if link is not None:
            link.gone.append(run_id)

    def lost(self, link: Link) -> None:
        """`link`'s host died: replace it, and resume its runs on live hosts. Returns once they are resumed,
        whoever noticed first."""
        with self._lock:
            if not link.alive:
                link.moved.wait(timeout=120)
                return
            link.alive = False
            self._links.remove(link)
            moved, alone = list(link.handles.values()), not self._links
        if alone:  # nowhere else to resume: wait for the replacement
            self._add_host()
        else:  # a replacement may take READY_TIMEOUT to start, or find no room (a Ray node lost): never wait for it
            threading.Thread(target=self._add_host, daemon=True, name="genmodels-replace").start()
        log.warning("a training host stopped; resuming its %d runs on the others", len(moved))
        try:
            link.host.stop()
        except Exception:
            pass
        try:
            for handle in moved:
                handle.resume(self)
        finally:
            link.moved.set()

    def _add_host(self) -> None:
        self._join(self._new_host())

    def _new_host(self) -> HostProxy:
        """The next host, made at once; it starts in the background."""
        with self._lock:
            host, self._made = self._make(self._made), self._made + 1
            self._starting.append(host)
        return host

    def _join(self, host: HostProxy) -> None:
        """Serve from `host` once it answers. The wait is outside the lock (pages open runs meanwhile); a
        shutdown meanwhile stops it."""
        try:
            host.started()
        except HostLost as e:  # e.g. no Ray node has room for one now: the live hosts take the runs
            log.warning("could not start a training host: %s", e)
            return
        finally:
            with self._lock:
                self._starting.remove(host)
        with self._lock:
            if not self._closed:
                self._links.append(Link(self, host))
                return
        host.stop()

    def shutdown(self) -> None:
        with self._lock:
            links, self._links, self._closed = self._links, [], True
            starting = list(self._starting)
        for host in starting:
            host.stop()
        for link in links:
            link.alive = False
            link.host.stop()


def spec_for(setup, data, **options) -> RunSpec:
    """A run's spec: named datasets are loaded by each host itself, only a user's points travel."""
    return RunSpec(setup, data if setup.data == USER_POINTS else None, **options)


@functools.cache
def shared_pool() -> Pool:
    """This process's pool, started on first use from GENMODELS_RAY_ADDRESS, GENMODELS_HOSTS,
    GENMODELS_MAX_TRAINERS, GENMODELS_TIME_SLICE and GENMODELS_THREADS."""
    limits = Limits.from_env()
    options = dict(slots=limits.max_trainers, time_slice=limits.time_slice, threads=limits.threads)
    address = os.environ.get("GENMODELS_RAY_ADDRESS", "").strip()
    if address:
        from .ray_hosts import RayHost, connect

        return Pool(lambda i: RayHost(i, **options), connect(address))
    from .processes import ProcessHost

    return Pool(lambda i: ProcessHost(**options), limits.hosts)
