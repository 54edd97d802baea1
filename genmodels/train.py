"""The Trainer: owns a model and its optimisers, trains in a background thread, publishes snapshots.

The trainer knows a model only through `phases`, `configure_optimizers`, `loss` and
`after_step` (minGPT's rule: the trainer knows nothing else). Watchers read the
latest immutable `Snapshot`; all model work happens in the one worker thread (or,
for the CLI, in the caller's thread via `run`).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .config import TrainConfig
from .data import Dataset
from .device import pick_device
from .limiter import LIMITER, Limiter
from .models import GenerativeModel

HISTORY_POINTS = 2000  # loss-curve points kept; older ones are thinned by half
CHUNK_SECONDS = 0.1  # publish losses at least this often while running
GRID_SIZE = 64


@dataclass(frozen=True)
class Snapshot:
    """What a watcher may read. Arrays are read-only copies; nothing here changes after publishing."""

    step: int = 0
    status: str = "ready"  # ready, queued, running, paused, stopped, done, diverged, closed
    message: str = ""
    steps_per_s: float = 0.0
    history: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n, 2) of (step, value)
    visuals: dict[str, np.ndarray] = field(default_factory=dict)
    visuals_step: int = -1
    device: str = "cpu"
    queue_position: int = 0


def frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


def plot_grid(data: Dataset, size: int = GRID_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Axis ticks of a square grid covering the 2D data with a margin."""
    lo, hi = np.percentile(data.train, [0.5, 99.5], axis=0)
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * 1.25 + 0.1
    return tuple(np.linspace(c - half, c + half, size, dtype=np.float32) for c in centre)


class Trainer:
    """Train `build()`'s model on `data`. Thread-safe controls: start, pause, step, stop, reset, close."""

    def __init__(
        self,
        build: Callable[[], GenerativeModel],
        data: Dataset,
        config: TrainConfig | None = None,
        device: str | None = None,
        visual_interval: float | None = 0.25,
        limiter: Limiter = LIMITER,
        idle_timeout: float | None = None,
    ):
        self.build, self.data, self.config = build, data, config or TrainConfig()
        self.device = pick_device(device)
        self.visual_interval, self.limiter, self.idle_timeout = visual_interval, limiter, idle_timeout
        self.train_x = torch.as_tensor(data.train, device=self.device)
        if data.dim == 2:
            gx, gy = plot_grid(data)
            self.grid_axes = (gx, gy)
            self.grid = torch.as_tensor(np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2), device=self.device)
        self._cond = threading.Condition(threading.RLock())
        self._thread: threading.Thread | None = None
        self._running = self._closing = self._reset_requested = False
        self._pending: list[str | None] = []  # single steps asked for: a phase name, or None for a round
        self.last_seen = time.monotonic()
        self._init_model()

    # -- state owned by the worker --------------------------------------------------------------
    def _init_model(self) -> None:
        torch.manual_seed(self.config.seed)
        self.model = self.build().to(self.device)
        self.model.init_from_data(self.train_x[: min(len(self.train_x), 4096)])
        self.optimizers = self.model.configure_optimizers(self.config.lr)
        self.generator = torch.Generator(device=self.device).manual_seed(self.config.seed)
        self.step_count, self._status, self._message = 0, "ready", ""
        self._history: dict[str, list[tuple[int, float]]] = {}
        self._rate, self._visuals, self._visuals_step, self._visual_due = 0.0, {}, -1, -math.inf
        self._publish(visuals=self.visual_interval is not None)

    def _batch(self) -> torch.Tensor:
        idx = torch.randint(len(self.train_x), (self.config.batch_size,), device=self.device, generator=self.generator)
        return self.train_x[idx]

    def _optimise(self, phase: str) -> dict[str, torch.Tensor]:
        losses = self.model.loss(self._batch(), phase)
        opt = self.optimizers[phase]
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        opt.step()
        self.model.after_step(phase)
        prefix = "" if phase == "model" else f"{phase}_"
        return {prefix + k: v.detach() for k, v in losses.items()}

    def _round(self, only: str | None = None) -> dict[str, torch.Tensor]:
        """One training round: each phase's optimiser steps `repeats` times (or one phase once)."""
        out: dict[str, torch.Tensor] = {}
        for phase in self.model.phases():
            if only is None or phase.name == only:
                for _ in range(1 if only else phase.repeats):
                    out.update(self._optimise(phase.name))
        return out

    def _chunk(self, max_steps: int, only: str | None = None, seconds: float = CHUNK_SECONDS) -> bool:
        """Run up to max_steps rounds for about `seconds`; log their mean losses. False if it diverged."""
        good = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        rows, start = [], time.perf_counter()
        while len(rows) < max_steps and (not rows or time.perf_counter() - start < seconds):
            rows.append(self._round(only))
        names = list(rows[0])
        values = torch.stack([torch.stack([r[n] for n in names]) for r in rows]).float().cpu().numpy()
        elapsed = time.perf_counter() - start
        bad = ~np.isfinite(values).all(1)
        if bad.any():
            self._diverged(good, int(np.argmax(bad)), names, values)
            return False
        self.step_count += len(rows)
        rate = len(rows) / max(elapsed, 1e-9)
        self._rate = rate if self._rate == 0 else 0.8 * self._rate + 0.2 * rate  # smoothed steps/s
        self._log(names, values.mean(0))
        return True

    def _diverged(self, good: dict, first_bad: int, names: list[str], values: np.ndarray) -> None:
        step = self.step_count + first_bad + 1
        which = [n for n, v in zip(names, values[first_bad]) if not np.isfinite(v)]
        self.model.load_state_dict(good)
        self.optimizers = self.model.configure_optimizers(self.config.lr)
        self._status = "diverged"
        self._message = (
            f"{', '.join(which)} became {values[first_bad][names.index(which[0])]} at step {step}; "
            f"training stopped and the weights of step {self.step_count} were kept. "
            "Lower the learning rate and press Reset."
        )

    def _log(self, names: list[str], means: np.ndarray) -> None:
        for name, value in zip(names, means):
            h = self._history.setdefault(name, [])
            h.append((self.step_count, float(value)))
            if len(h) > HISTORY_POINTS:
                del h[::2]

    def _publish(self, visuals: bool | None = None) -> None:
        """Make a new Snapshot. Visuals: None = when due (at most ~20% of the worker's time), True/False = force."""
        now = time.monotonic()
        if visuals is None:
            visuals = self.visual_interval is not None and now >= self._visual_due
        if visuals and self._visuals_step != self.step_count:
            self._visuals = {k: frozen(v) for k, v in self._compute_visuals().items()}
            cost = time.monotonic() - now
            self._visuals_step, self._visual_due = self.step_count, now + max(self.visual_interval or 0, 4 * cost)
        self._snapshot = Snapshot(
            step=self.step_count,
            status=self._status,
            message=self._message,
            steps_per_s=self._rate,
            history={k: frozen(np.array(v, dtype=np.float64).reshape(-1, 2)) for k, v in self._history.items()},
            visuals=self._visuals,
            visuals_step=self._visuals_step,
            device=str(self.device),
            queue_position=self.limiter.position(self),
        )

    def _compute_visuals(self) -> dict[str, np.ndarray]:
        torch.manual_seed(self.step_count)  # the same samples for the same weights
        out = self.model.visuals(self.grid if self.data.dim == 2 else None)
        if self.data.dim == 2:
            out["grid_x"], out["grid_y"] = self.grid_axes
        return out

    # -- synchronous use (CLI, benchmarks, tests) ---------------------------------------------
    def run(self, steps: int, on_chunk: Callable[[Snapshot], None] | None = None) -> Snapshot:
        """Train `steps` rounds in the caller's thread; stop early if the loss diverges."""
        target = self.step_count + steps
        self._status = "running"
        while self.step_count < target:
            if not self._chunk(target - self.step_count):
                break
            self._publish()
            if on_chunk:
                on_chunk(self._snapshot)
        else:
            self._status = "done"
        self._publish(visuals=self.visual_interval is not None)
        return self._snapshot

    # -- the background worker ------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def active(self) -> bool:
        """True while the worker has work: training, or single steps or a reset still to do."""
        return self._running or bool(self._pending) or self._reset_requested

    def heartbeat(self) -> None:
        """Called by the UI on each refresh; a worker whose watcher went silent stops itself."""
        self.last_seen = time.monotonic()

    def start(self) -> None:
        """Train in the background until the step budget, a pause or a stop."""
        with self._cond:
            if self._status in ("diverged", "closed"):
                return
            if self._status in ("done", "stopped"):
                self._status = "paused"
            self._running = True
            self._ensure_worker()
            self._cond.notify_all()

    resume = start

    def pause(self) -> None:
        with self._cond:
            self._running = False
            if self._status in ("running", "queued"):
                self._status = "paused"
            self._publish(visuals=False)
            self._cond.notify_all()

    def step(self, phase: str | None = None) -> None:
        """One round (or one step of one phase, e.g. 'D'); pauses a running trainer first."""
        with self._cond:
            if self._status in ("diverged", "closed"):
                return
            self._running = False
            self._pending.append(phase)
            self._ensure_worker()
            self._cond.notify_all()

    def stop(self) -> None:
        """End training; the model stays for viewing; `start` continues from here."""
        with self._cond:
            self._running = False
            self._pending.clear()
            if self._status not in ("diverged", "closed", "ready"):
                self._status = "stopped"
            self._publish(visuals=False)
            self._cond.notify_all()

    def reset(self) -> None:
        """Fresh weights from the same seed, empty history, status ready."""
        with self._cond:
            self._running, self._reset_requested = False, True
            self._pending.clear()
            self._ensure_worker()
            self._cond.notify_all()

    def close(self) -> None:
        """Stop the worker and free the model (a closed tab or a new setup)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._free("closed", "this run was closed")

    def _free(self, status: str, message: str) -> None:
        with self._cond:
            self.limiter.release(self)
            self.model, self.optimizers, self.train_x, self._running = None, {}, None, False
            self._status, self._message = status, message
            self._snapshot = dataclasses.replace(self._snapshot, status=status, message=message)

    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, daemon=True, name="genmodels-trainer")
            self._thread.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                if self._closing:
                    return
                if self._idle():
                    self._free("closed", "the browser tab went away, so this run was stopped to free memory")
                    return
                if self._reset_requested:
                    self._reset_requested = False
                    self.limiter.release(self)
                    self._init_model()
                    continue
                if self._pending:
                    self._do_pending_step()
                    continue
                if not self._running:
                    self.limiter.release(self)
                    self._cond.wait(timeout=1.0)
                    continue
                if not self.limiter.try_acquire(self):
                    self._status = "queued"
                    self._publish()
                    self._cond.wait(timeout=0.2)
                    continue
                self._run_chunk()

    def _idle(self) -> bool:
        return self.idle_timeout is not None and time.monotonic() - self.last_seen > self.idle_timeout

    def _do_pending_step(self) -> None:
        if self._chunk(1, self._pending.pop(0)):
            self._status = "paused"
        self._publish(visuals=self.visual_interval is not None)

    def _run_chunk(self) -> None:
        if self.step_count < self.config.steps:
            self._status = "running"
            self._chunk(self.config.steps - self.step_count)
        if self.step_count >= self.config.steps and self._status == "running":
            self._status, self._message = "done", f"reached {self.config.steps} steps"
        self._running = self._status == "running"
        self._publish(visuals=not self._running and self.visual_interval is not None)
