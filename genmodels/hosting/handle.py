"""A run as the web process holds it: commands in, the latest snapshot out.

`RunHandle` has the controls of a `Trainer` (start, pause, step, stop, reset, close, checkpoint,
load_weights) but trains nothing here: its run lives on a host (`pool.py`), and the pool's pump
keeps `snapshot()` fresh, so reading it costs a page nothing. The handle also keeps the last
state its host sent: if that host dies, the run reopens elsewhere from it, and says so.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import torch

from ..training.history import History
from ..training.snapshot import Snapshot
from .host import HostLost, RunSpec, Saved, Update
from .pool import Link, Pool


class RunHandle:
    def __init__(self, pool: Pool, spec: RunSpec):
        self.id, self.spec, self.pool = uuid.uuid4().hex, spec, pool
        self.link: Link | None = None  # set by the pool
        self.last_seen = time.monotonic()
        self._update: Update | None = None
        self._state: Saved | None = None  # what a resumed run goes on from
        self._lock = threading.Lock()
        self.receive(pool.open(self))

    # -- what the page reads (memory only) -----------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return self._update.snapshot

    @property
    def active(self) -> bool:
        """True while the run trains (or has steps or a reset to do)."""
        return self._update.active

    @property
    def phases(self) -> tuple[str, ...]:
        """The optimiser phases of one round (e.g. D, G): Step D / Step G buttons."""
        return self._update.phases

    @property
    def closed(self) -> bool:
        return self._update.snapshot.status == "closed"

    @property
    def version(self) -> int:
        return self._update.version if self._update is not None else 0

    def heartbeat(self) -> None:
        """The page is open (each refresh calls this): without it, the run pauses, then closes."""
        self.last_seen = time.monotonic()

    # -- the pool's side ----------------------------------------------------------------------------------
    def receive(self, update: Update) -> None:
        """Keep `update` if it is news. Visuals its host says are unchanged (the same `visuals_id`) stay
        the very dict this handle holds, whose pictures a page has drawn already (its memo goes by
        identity): every update comes unpickled, as new objects, and most bring new losses only (and, from a
        poll, empty visuals: its host knows this handle has them)."""
        with self._lock:
            if update.state is not None:
                self._state = update.state
            last = self._update
            if last is not None and update.version < last.version:
                return
            if last is not None and update.visuals_id and update.visuals_id == last.visuals_id:
                update = dataclasses.replace(update, snapshot=dataclasses.replace(
                    update.snapshot, visuals=last.snapshot.visuals))
            self._update = update

    def seen(self) -> tuple[int, float]:
        return self.version, time.monotonic() - self.last_seen

    def resume(self, pool: Pool) -> None:
        """Reopen this run on a live host from its last state (its host died), training on if it trained."""
        snap = self.snapshot()
        if snap.status == "closed":
            return
        step, running = self._state.step if self._state else 0, self.active and snap.status in ("running", "queued")
        note = f"the process that trained this run stopped: resuming from step {step}"
        waiting = dataclasses.replace(snap, message=note)
        self.receive(Update(self.version + 1, waiting, self.active, self.phases))
        message = (f"resumed from step {step}: the process that trained this run stopped, so the "
                   f"{snap.step - step} steps since its last checkpoint are trained again")
        self.receive(pool.open(self, self._state, running, message))

    # -- the controls -------------------------------------------------------------------------------------
    def _command(self, name: str, *args):
        link = self.link
        try:
            return link.call("command", self.id, name, *args)
        except HostLost:
            self.pool.lost(link)  # resumes this run elsewhere
            return self.link.call("command", self.id, name, *args)

    def _control(self, name: str, *args) -> None:
        update = self._command(name, *args)
        if update is not None:
            self.receive(update)

    def start(self) -> None:
        self._control("start")

    def pause(self) -> None:
        self._control("pause")

    def step(self, phase: str | None = None) -> None:
        self._control("step", phase)

    def stop(self) -> None:
        self._control("stop")

    def reset(self) -> None:
        self._control("reset")

    def checkpoint(self) -> tuple[dict[str, torch.Tensor], int, History]:
        """Weights, their step and the loss history, taken together on the host."""
        return self._command("checkpoint")

    def load_weights(self, state: dict[str, torch.Tensor], step: int, history: History | None = None) -> None:
        self._control("load_weights", state, step, history)

    def close(self) -> None:
        """Free the run on its host (a new setup, a closed comparison)."""
        self.pool.close(self.id)
        closed = dataclasses.replace(self.snapshot(), status="closed", message="this run was closed")
        self.receive(Update(self.version + 1, closed, False))
