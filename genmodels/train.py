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

from .compiled import CompiledLoss
from .config import TrainConfig
from .data import Dataset
from .device import pick_device
from .errors import UserError
from .limiter import LIMITER, Limiter
from .models import GenerativeModel
from .stopping import conditions

HISTORY_POINTS = 2000  # loss-curve points kept; older ones are thinned by half
COMPILING = "compiling the training step with torch.compile (seconds to a minute, the first time)"
CHUNK_SECONDS = 0.1  # publish losses at least this often while running
HANDOFF_SECONDS = 0.001  # the worker's pause between chunks, in which a waiting control takes the lock
GRID_SIZE = 64
LIVE_SHARE = 0.1  # of the time at most goes to live pictures: visuals here plus an open page drawing them
PROBE_POINTS = 1000  # held-out points handed to `model.set_probe` (their labels: data.test_labels[:1000])
TIMELINE_FRAMES = 50  # at most this many past visuals are kept for replay, evenly spread


@dataclass(frozen=True)
class Frame:
    """The visuals of one past step, for replaying a run."""

    step: int
    visuals: dict[str, np.ndarray]


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
    timeline: tuple[Frame, ...] = ()  # at most TIMELINE_FRAMES past visuals, oldest first


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
        drop_timeout: float | None = None,
    ):
        self.build, self.data, self.config = build, data, config or TrainConfig()
        self.device = pick_device(device)
        self.visual_interval, self.limiter = visual_interval, limiter
        self.page_cost = 0.0  # CPU seconds an open page last spent drawing new visuals (`_publish`)
        self.idle_timeout, self.drop_timeout = idle_timeout, drop_timeout
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
        self.model.set_probe(torch.as_tensor(self.data.test[:PROBE_POINTS], device=self.device))
        self.optimizers = self.model.configure_optimizers(self.config.lr)
        self.loss = CompiledLoss(self.model) if self.config.compile else self.model.loss
        self.generator = torch.Generator(device=self.device).manual_seed(self.config.seed)
        self.step_count, self._status, self._message = 0, "ready", ""
        self._history: dict[str, list[tuple[int, float]]] = {}
        self._rate, self._visuals, self._visuals_step, self._visual_due = 0.0, {}, -1, -math.inf
        self._kept: list[tuple[int, Frame]] = []  # (index among all frames, frame), every stride-th
        self._frames_seen, self._stride, self._latest_frame = 0, 1, None
        self._armed = conditions(self.config.stop_when, self.config.patience)  # each fires once per run
        self._publish(visuals=self.visual_interval is not None)

    def _batch(self) -> torch.Tensor:
        idx = torch.randint(len(self.train_x), (self.config.batch_size,), device=self.device, generator=self.generator)
        return self.train_x[idx]

    def _optimise(self, phase: str) -> dict[str, torch.Tensor]:
        losses = self.loss(self._batch(), phase)
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

    def _chunk(self, max_steps: int, only: str | None = None) -> bool:
        """Run up to max_steps rounds for about CHUNK_SECONDS; log their mean losses. False if it diverged."""
        self._compile()
        good = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        rows, start = [], time.perf_counter()
        while len(rows) < max_steps and (not rows or time.perf_counter() - start < CHUNK_SECONDS):
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

    @property
    def compile_error(self) -> str | None:
        """Why torch.compile was given up for this run (None: not asked for, or it compiled)."""
        return self.loss.error if isinstance(self.loss, CompiledLoss) else None

    def _needs_compiling(self) -> bool:
        return isinstance(self.loss, CompiledLoss) and not self.loss.warm

    def _compile(self) -> None:
        if self._needs_compiling():
            self._compile_job()()
            self._message = self.compile_error or ""

    def _compile_job(self) -> Callable[[], None]:
        """Compiling the loss before the timed steps, on a fixed batch, without touching the run's random streams.

        Bound to this model's tensors, so the worker may run it outside the lock.
        """
        loss, rows = self.loss, torch.arange(self.config.batch_size, device=self.device) % len(self.train_x)
        x, phases = self.train_x[rows], [p.name for p in self.model.phases()]
        return lambda: loss.warm_up(x, phases)

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
        """Make a new Snapshot. Visuals: None = when due, True/False = force.

        Visuals are due `visual_interval` seconds after the last ones began, or later when they are slow:
        computing them here and drawing them on an open page (`page_cost`, CPU seconds the page reports per
        new visuals; it shares the process) take at most LIVE_SHARE of the time, whatever the model and machine.
        """
        now = time.monotonic()
        if visuals is None:
            visuals = self.visual_interval is not None and now >= self._visual_due
        if visuals and self._visuals_step != self.step_count:
            self._visuals = {k: frozen(v) for k, v in self._compute_visuals().items()}
            cost = time.monotonic() - now
            self._visuals_step = self.step_count
            self._visual_due = now + max(self.visual_interval or 0, (cost + self.page_cost) / LIVE_SHARE)
            self._remember(Frame(self.step_count, self._visuals))
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
            timeline=self._frames() if self._latest_frame else (),
        )

    def _remember(self, frame: Frame) -> None:
        """Keep every `stride`-th new frame; past the cap, double the stride and drop the frames off it.

        The kept frames stay evenly spread over the run however long it is; the latest
        frame is always shown (`_frames`).
        """
        self._latest_frame, self._frames_seen = frame, self._frames_seen + 1
        if (self._frames_seen - 1) % self._stride:
            return
        self._kept.append((self._frames_seen - 1, frame))
        if len(self._kept) >= TIMELINE_FRAMES:
            self._stride *= 2
            self._kept = [(k, f) for k, f in self._kept if k % self._stride == 0]

    def _frames(self) -> tuple[Frame, ...]:
        kept = tuple(f for _, f in self._kept)
        return kept if kept and kept[-1] is self._latest_frame else (*kept, self._latest_frame)

    def _check_stop(self, budget: int) -> None:
        """After a good chunk: 'done' when the step budget is spent or an armed stop condition fires.

        A condition that fired is disarmed, so Resume trains on (until the budget or another condition).
        """
        if self.step_count >= budget:
            self._status, self._message = "done", f"reached {budget} steps"
            return
        for condition in self._armed:
            reason = condition.check(self._history, self.step_count)
            if reason:
                self._armed.remove(condition)
                self._status, self._message = "done", reason
                return

    def _compute_visuals(self) -> dict[str, np.ndarray]:
        # The same samples for the same weights, without touching the training's random stream:
        # a run then gives the same numbers whenever its pictures were drawn (app, CLI, script).
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.step_count)
            out = self.model.visuals(self.grid if self.data.dim == 2 else None)
        if self.data.dim == 2:  # a model may plot on its own grid (a flow fitted to a target energy)
            out.setdefault("grid_x", self.grid_axes[0])
            out.setdefault("grid_y", self.grid_axes[1])
        return out

    # -- synchronous use (CLI, benchmarks, tests) ---------------------------------------------
    def run(self, steps: int, on_chunk: Callable[[Snapshot], None] | None = None) -> Snapshot:
        """Train `steps` rounds in the caller's thread; stop early on divergence or a stop condition."""
        target = self.step_count + steps
        self._status = "running"
        while self._status == "running":
            if self.step_count >= target or self._chunk(target - self.step_count):
                self._check_stop(target)
            ended = self._status != "running"
            self._publish(visuals=self.visual_interval is not None if ended else None)  # the end: fresh visuals
            if on_chunk:
                on_chunk(self._snapshot)
        return self._snapshot

    # -- the background worker ------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def weights(self) -> tuple[dict[str, torch.Tensor], int]:
        """A CPU copy of the weights and their step, taken between chunks (safe while training)."""
        with self._cond:
            return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}, self.step_count

    def load_weights(self, state: dict[str, torch.Tensor], step: int) -> None:
        """Continue from saved weights (a checkpoint) at `step`; Reset still gives fresh ones."""
        with self._cond:
            if self.active or self.model is None:
                raise UserError("pause training (or press Reset after a closed run) before loading weights")
            try:
                self.model.load_state_dict(state)
            except RuntimeError as e:
                raise UserError(f"these weights do not fit this model: {str(e).splitlines()[0]}") from None
            self.optimizers = self.model.configure_optimizers(self.config.lr)
            self.step_count, self._status, self._message = step, "paused", f"loaded the weights of step {step}"
            self._publish(visuals=self.visual_interval is not None)

    @property
    def active(self) -> bool:
        """True while the worker has work: training, or single steps or a reset still to do."""
        return self._running or bool(self._pending) or self._reset_requested

    def heartbeat(self) -> None:
        """Called by the UI on each refresh. Without one, training pauses after `idle_timeout`
        seconds and the run is closed (its memory freed) after `drop_timeout` seconds."""
        self.last_seen = time.monotonic()

    def start(self) -> None:
        """Train in the background until the step budget, a pause or a stop."""
        with self._cond:
            if self._status in ("diverged", "closed"):
                return
            if self._status in ("done", "stopped"):
                self._status = "paused"
            self._running, self._message = True, ""
            self.heartbeat()  # pressing a button is a sign of life
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
            self.heartbeat()
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
            self.model, self.loss, self.optimizers, self.train_x, self._running = None, None, {}, None, False
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
                if self._silent_for(self.drop_timeout):
                    self._free("closed", "no page refresh for a long time (a closed or idle tab): "
                                         "this run was closed to free memory")
                    return
                if self._running and self._silent_for(self.idle_timeout):
                    self._pause_idle()
                    continue
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
                if not self._needs_compiling():
                    self._run_chunk()
                    # Locks are not fair: re-taking ours at once could starve a waiting control (a pause
                    # once waited 12 s behind a fast model, and for ever on a GPU). Waiting lets it in.
                    self._cond.wait(timeout=HANDOFF_SECONDS)
                    continue
                compile_now = self._compile_job()
                self._status, self._message = "running", COMPILING
                self._publish(visuals=False)
            compile_now()  # outside the lock: pause, stop and close answer at once
            with self._cond:
                if self._message == COMPILING:
                    self._message = self.compile_error or ""
                    self._publish(visuals=False)

    def _silent_for(self, timeout: float | None) -> bool:
        return timeout is not None and time.monotonic() - self.last_seen > timeout

    def _pause_idle(self) -> None:
        self._running, self._status = False, "paused"
        self._message = f"paused after {self.idle_timeout:g} s without a page refresh (an idle or closed tab)"
        self.limiter.release(self)
        self._publish(visuals=False)

    def _do_pending_step(self) -> None:
        if self._chunk(1, self._pending.pop(0)):
            self._status = "paused"
        self._publish(visuals=self.visual_interval is not None)

    def _run_chunk(self) -> None:
        budget = self.config.steps
        self._status = "running"
        if self.step_count >= budget or self._chunk(budget - self.step_count):
            self._check_stop(budget)
        self._running = self._status == "running"
        if self.limiter.should_yield(self):
            self.limiter.release(self)  # queue again behind the sessions that wait (round robin)
        self._publish(visuals=None if self._running else self.visual_interval is not None)
