"""A host: many runs in one process, each a `Trainer`, taking turns on the process's training slots.

Worker processes (`processes.py`) and Ray actors (`ray_hosts.py`) serve a Host. Its methods take
and return plain data (run ids, specs, updates, states), so it may live in another process or on
another machine; the web process only holds `RunHandle`s (`handle.py`) and draws.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import pickle
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ..data import DATA_ROOT, Dataset, dataset_spec, load_dataset
from ..device import use_training_threads
from ..errors import UserError
from ..setup import Setup
from ..training.snapshot import Snapshot
from .limiter import Limiter
from .trainer import Trainer

CHECKPOINT_SECONDS = 3.0  # a run's state goes back to its handle after this many seconds of its training
CALL_TIMEOUT = 60.0  # seconds a host may take to answer before it counts as lost (a control waits a block)
COMMANDS = {"start", "pause", "step", "stop", "reset", "load_weights", "checkpoint"}


class HostLost(RuntimeError):
    """The host serving a run died or stopped answering (its process, actor or node is gone)."""


@dataclass(frozen=True)
class RunSpec:
    """What a host builds a run from: the setup, its data (None: the host loads `setup.data` by name,
    so named datasets never travel; image files from `data_dir`, the server's GENMODELS_DATA), and the
    `Trainer` options of how the run is watched. `render` names ("module:function") what the host makes
    of each new visuals for the page, `render(visuals, data=, setup=)` -> entries added to the visuals:
    the pictures, drawn on the host."""

    setup: Setup
    data: Dataset | None = None
    visual_interval: float | None = 0.25
    idle_timeout: float | None = None
    drop_timeout: float | None = None
    chunk_seconds: float | None = None
    data_dir: str | None = dataclasses.field(default_factory=lambda: os.environ.get(DATA_ROOT))
    render: str | None = None

    def dataset(self) -> Dataset:
        if self.data is not None:
            return self.data
        name = self.setup.data
        return _named(name, dataset_spec(name).data_seed(self.setup.train.seed), self.data_dir)


def named_function(name: str) -> Callable:
    """The function a "package.module:function" name names (imported on first use)."""
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function)


@functools.lru_cache(maxsize=32)
def _named(name: str, seed: int, data_dir: str | None) -> Dataset:
    """A named dataset, its files read from `data_dir`; one copy per host however many runs train on it (per
    `data_seed`: full MNIST, the same for every seed, is held once)."""
    return load_dataset(name, seed, data_dir)


@dataclass(frozen=True)
class Saved:
    """A run's `Trainer.state()` as its host pickled it. The web process keeps it unread (unpickling a
    model's tensors there cost the load test's web process a fifth of its time) and hands it back to
    whichever host resumes the run; it travels only between this deployment's own processes."""

    step: int
    blob: bytes

    @classmethod
    def of(cls, state: dict) -> Saved:
        return cls(state["step"], pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))

    def state(self) -> dict:
        return pickle.loads(self.blob)


@dataclass(frozen=True)
class Update:
    """A run's news for its handle. `version` grows with every new snapshot; the snapshot carries its
    replay timeline only while the run is idle (the only time a page replays), so a training run's
    updates stay small. `state`, now and then, is what the run can resume from elsewhere.
    `visuals_id` names the snapshot's visuals: the same id, the same visuals as an earlier update's
    (a snapshot with new losses but the pictures of before), which the handle then keeps as they were;
    such a snapshot comes with empty visuals when the handle is known to hold them."""

    version: int
    snapshot: Snapshot
    active: bool
    phases: tuple[str, ...] = ()
    state: Saved | None = None
    visuals_id: str = ""


class _Run:
    def __init__(self, trainer: Trainer, version: int):
        self.trainer, self.version = trainer, version
        self.sent: tuple[Snapshot, bool] | None = None
        self.visuals: dict | None = None  # the visuals last sent, their id, and the first version with them
        self.visuals_id, self.visuals_version = "", 0
        self.saved_trained, self.saved_step = trainer.trained_seconds, trainer.snapshot().step
        self.phases = tuple(p.name for p in trainer.model.phases())

    def update(self, with_state: bool = False, seen: int = -1) -> Update:
        """The run's news for a handle at version `seen` (-1: unknown); its visuals left out if it has them."""
        t = self.trainer
        snap, active = t.snapshot(), t.active
        if self.sent is None or self.sent[0] is not snap or self.sent[1] != active:
            self.version, self.sent = self.version + 1, (snap, active)
        if snap.visuals is not self.visuals:
            self.visuals, self.visuals_id, self.visuals_version = snap.visuals, uuid.uuid4().hex, self.version
        state = None
        if with_state:
            state = Saved.of(t.state())
            self.saved_trained, self.saved_step = t.trained_seconds, snap.step
        shown = dataclasses.replace(snap, timeline=() if active else snap.timeline,
                                    visuals={} if seen >= self.visuals_version else snap.visuals)
        return Update(self.version, shown, active, self.phases, state, self.visuals_id)

    def checkpoint_due(self) -> bool:
        """Counted in the run's own training time, not the clock's: a run of a class of 50 that trains in
        short turns is saved as often per step trained as one alone (a state costs its host milliseconds)."""
        t = self.trainer
        trained = t.trained_seconds - self.saved_trained
        return t.training is not None and t.snapshot().step != self.saved_step and not 0 <= trained < CHECKPOINT_SECONDS


class Host:
    """Runs by id. `slots` of them train at once (one per core: each host is one process, one torch
    thread); the others queue and take turns of `time_slice` seconds (the `Limiter`)."""

    def __init__(self, slots: int = 1, time_slice: float | None = 2.0, threads: int = 1, device: str | None = None):
        use_training_threads(threads)
        self.limiter, self.device = Limiter(slots, time_slice), device
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    def ready(self) -> dict:
        """Where this host runs (its Ray node, if an actor) and which runs it holds (tests, the load test)."""
        ray = sys.modules.get("ray")
        node_id = ray.get_runtime_context().get_node_id() if ray is not None and ray.is_initialized() else None
        return {"pid": os.getpid(), "node": socket.gethostname(), "node_id": node_id, "runs": sorted(self._runs)}

    def open(self, run_id: str, spec: RunSpec, version: int = 0, state: Saved | None = None,
             running: bool = False, message: str = "") -> Update:
        """Build a run; from `state` (a run resumed from another host) if given, training on if `running`."""
        data = spec.dataset()
        trainer = Trainer(lambda: spec.setup.build_model(data), data, spec.setup.train, device=self.device,
                          visual_interval=spec.visual_interval, limiter=self.limiter, idle_timeout=spec.idle_timeout,
                          drop_timeout=spec.drop_timeout, chunk_seconds=spec.chunk_seconds,
                          render=spec.render and functools.partial(named_function(spec.render), data=data,
                                                                   setup=spec.setup))
        if state is not None:
            trainer.restore(state.state(), message)
        if running:
            trainer.start(message)
        with self._lock:
            self._runs[run_id] = run = _Run(trainer, version)
        return run.update()

    def command(self, run_id: str, name: str, *args):
        """A control of run `run_id` (`COMMANDS`): its result, else the run's update after it."""
        if name not in COMMANDS:
            raise UserError(f"unknown command {name!r}")
        run = self._runs.get(run_id)
        if run is None:
            return None
        result = getattr(run.trainer, name)(*args)
        return result if name == "checkpoint" else run.update()

    def poll(self, seen: dict[str, tuple[int, float]], gone: tuple[str, ...] = ()) -> dict[str, Update]:
        """News for the handles: `seen` maps a run id to (the version its handle has, seconds since its
        page's last heartbeat). Runs in `gone` lost their handle (a session that ended) and close; runs
        closed here (a tab silent past its drop timeout) are reported once and forgotten."""
        for run_id in gone:
            self.close(run_id)
        now, out = time.monotonic(), {}
        for run_id, (version, age) in seen.items():
            run = self._runs.get(run_id)
            if run is None:
                continue
            run.trainer.last_seen = now - age
            update = run.update(with_state=run.checkpoint_due(), seen=version)
            if update.version != version or update.state is not None:
                out[run_id] = update
            if run.trainer.training is None:
                self._forget(run_id)
        return out

    def close(self, run_id: str) -> None:
        run = self._forget(run_id)
        if run is not None:
            run.trainer.close()

    def _forget(self, run_id: str) -> _Run | None:
        with self._lock:
            return self._runs.pop(run_id, None)
