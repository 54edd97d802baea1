"""The Trainer: a `Training` run in a background thread, behind thread-safe controls, publishing snapshots.

The thread trains in blocks of about `chunk_seconds` (GENMODELS_CHUNK_SECONDS) and publishes
a snapshot after each: the block length decides how often watchers see news, never what the
run records (the loop records every step). Controls (pause, step, stop, reset, close) end the
current block at the next round. Pictures are budgeted: computing a snapshot's visuals takes
at most `live_share` (GENMODELS_LIVE_SHARE) of the run's time.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

import torch

from ..config import TrainConfig
from ..data import Dataset
from ..errors import UserError
from ..models import GenerativeModel
from ..training.history import History
from ..training.loop import Training
from ..training.snapshot import Frame, Snapshot, Timeline
from .limiter import Limiter, shared_limiter
from .limits import Limits

COMPILING = "compiling the training step with torch.compile (seconds to a minute, the first time)"
QUEUE_NEWS = 1.0  # seconds: a queued run tells its new place in the queue at most this often
Render = Callable[[dict], dict]  # visuals -> what a page draws of them (its pictures), made here


class Trainer:
    """Train `build()`'s model on `data`. Thread-safe controls: start, pause, step, stop, reset, close."""

    def __init__(
        self,
        build: Callable[[], GenerativeModel],
        data: Dataset,
        config: TrainConfig | None = None,
        device: str | None = None,
        visual_interval: float | None = 0.25,
        limiter: Limiter | None = None,
        idle_timeout: float | None = None,
        drop_timeout: float | None = None,
        chunk_seconds: float | None = None,
        render: Render | None = None,
    ):
        self.data, self.config = data, config or TrainConfig()
        self.visual_interval, self.limiter = visual_interval, limiter or shared_limiter()
        limits = Limits.from_env()
        self.chunk_seconds = limits.chunk_seconds if chunk_seconds is None else chunk_seconds
        self.live_share = limits.live_share  # of its training time at most goes to the run's pictures
        self.idle_timeout, self.drop_timeout, self.render = idle_timeout, drop_timeout, render
        self._cond = threading.Condition(threading.RLock())
        self._thread: threading.Thread | None = None
        self._running = self._closing = self._reset_requested = False
        self._waiting, self._waiting_lock = 0, threading.Lock()  # controls waiting for the lock: end the block
        self._pending: list[str | None] = []  # single steps asked for: a phase name, or None for a round
        self.last_seen, self._queue_news = time.monotonic(), -math.inf
        self.training: Training | None = Training(build, data, self.config, device)
        self._fresh_pictures()

    def _fresh_pictures(self) -> None:
        self._rate, self._visuals, self._visuals_step, self._visual_due = 0.0, {}, -1, -math.inf
        self._trained_s, self._budget_due = 0.0, -math.inf  # seconds spent training; when visuals fit the budget
        self.timeline = Timeline()
        self._publish(visuals=self.visual_interval is not None)

    @property
    def model(self) -> GenerativeModel | None:
        return self.training.model if self.training is not None else None

    @property
    def trained_seconds(self) -> float:
        """Seconds this run has spent training since its last reset (not waiting for its turn)."""
        return self._trained_s

    @property
    def compile_error(self) -> str | None:
        return self.training.compile_error if self.training is not None else None

    # -- blocks and snapshots (the caller holds the lock, or owns the trainer) ------------------------
    def _block(self, rounds: int, only: str | None = None) -> bool:
        """Train up to `rounds` rounds for about chunk_seconds, or until a control waits, the page falls
        silent or the run's turn is over (others wait). False if it diverged."""
        deadline, start, step = time.perf_counter() + self.chunk_seconds, time.perf_counter(), self.training.step
        ok = self.training.train(rounds, only, lambda: not self._interrupt and time.perf_counter() < deadline
                                 and not self._silent_for(self.idle_timeout) and not self.limiter.should_yield(self))
        if ok:
            self._trained_s += time.perf_counter() - start
            rate = (self.training.step - step) / max(time.perf_counter() - start, 1e-9)
            self._rate = rate if self._rate == 0 else 0.8 * self._rate + 0.2 * rate  # smoothed steps/s
        return ok

    def _train_towards(self, budget: int) -> None:
        t = self.training
        t.status = "running"
        if t.step >= budget or self._block(budget - t.step):
            t.check_stop(budget)

    def _publish(self, visuals: bool | None = None) -> None:
        """Make a new Snapshot. Visuals: None = when due, True/False = force.

        Visuals are due `visual_interval` seconds after the last ones began, or later when they are slow:
        computing them takes at most `live_share` of the time the run spent training, whatever the model and
        machine, and however long it waited for its turn (a queued run's turns are not spent on pictures).
        The pictures of a run that has not trained yet are free: its first trained ones come `visual_interval`
        into its training, as a lecturer pressing Train expects, not after the cost of the first ones
        (lazy set-up included) divided by `live_share`.
        """
        t, now = self.training, time.monotonic()
        if visuals is None:
            visuals = (self.visual_interval is not None and now >= self._visual_due
                       and self._trained_s >= self._budget_due)
        if visuals and self._visuals_step != t.step:
            self._visuals, self._visuals_step = self._pictured(t.visuals()), t.step
            cost = time.monotonic() - now
            self._visual_due = now + (self.visual_interval or 0)
            self._budget_due = self._trained_s + cost / self.live_share if self._trained_s > 0 else -math.inf
            self.timeline.add(Frame(t.step, self._visuals))
        self._snapshot = t.snapshot(visuals=self._visuals, visuals_step=self._visuals_step, steps_per_s=self._rate,
                                    queue_position=self.limiter.position(self), timeline=self.timeline.frames())

    def _pictured(self, visuals: dict) -> dict:
        """The visuals with what `render` makes of them (a page's pictures, drawn here and not in the web
        process, which then only sends them)."""
        if self.render is None:
            return visuals
        return {**visuals, **self.render(visuals)}

    # -- synchronous use (benchmarks, tests of the pictures' budget) ----------------------------------
    def run(self, steps: int, on_chunk: Callable[[Snapshot], None] | None = None) -> Snapshot:
        """Train `steps` rounds in the caller's thread in timed blocks, publishing after each, as the thread does."""
        target = self.training.step + steps
        self.training.status = "running"
        while self.training.status == "running":
            self._train_towards(target)
            ended = self.training.status != "running"
            self._publish(visuals=self.visual_interval is not None if ended else None)  # the end: fresh visuals
            if on_chunk:
                on_chunk(self._snapshot)
        return self._snapshot

    # -- the controls -----------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @contextmanager
    def _control(self):
        """The lock, taken as soon as the worker's current block ends (it ends at the next round, and the
        worker then waits for the control: locks are not fair, and re-taking it at once could starve one)."""
        with self._waiting_lock:
            self._waiting += 1
        with self._cond:
            with self._waiting_lock:
                self._waiting -= 1
            yield

    @property
    def _interrupt(self) -> bool:
        return self._waiting > 0

    def weights(self) -> tuple[dict[str, torch.Tensor], int]:
        """A CPU copy of the weights and their step, taken between blocks (safe while training)."""
        with self._control():
            return self.training.weights(), self.training.step

    def checkpoint(self) -> tuple[dict[str, torch.Tensor], int, History]:
        """What a saved run holds, taken together between blocks: a copy of the weights, their step, the loss
        history."""
        with self._control():
            t = self.training
            return t.weights(), t.step, History.from_state(t.history.state(), t.step, t.history.capacity)

    def load_weights(self, state: dict[str, torch.Tensor], step: int, history: History | None = None) -> None:
        """Continue from saved weights (a checkpoint) at `step` with their loss history; Reset gives fresh ones."""
        with self._control():
            if self.active or self.training is None:
                raise UserError("pause training (or press Reset after a closed run) before loading weights")
            self.training.load_weights(state, step, history)
            self._publish(visuals=self.visual_interval is not None)

    def state(self) -> dict | None:
        """`Training.state()` taken between blocks: what a run resumed elsewhere goes on from (None: closed)."""
        with self._control():
            return self.training.state() if self.training is not None else None

    def restore(self, state: dict, message: str) -> None:
        """Go on from `state()` of a run of this setup (its host died), paused, `message` on the page."""
        with self._control():
            self.training.restore(state)
            self.training.message = message
            self._publish(visuals=self.visual_interval is not None)

    @property
    def active(self) -> bool:
        """True while the worker has work: training, or single steps or a reset still to do."""
        return self._running or bool(self._pending) or self._reset_requested

    def heartbeat(self) -> None:
        """Called by the UI on each refresh. Without one, training pauses after `idle_timeout`
        seconds and the run is closed (its memory freed) after `drop_timeout` seconds."""
        self.last_seen = time.monotonic()

    def start(self, message: str = "") -> None:
        """Train in the background until the step budget, a pause or a stop; `message` on the page meanwhile."""
        with self._control():
            if self.training is None or self.training.status in ("diverged", "closed"):
                return
            if self.training.status != "running":
                self.training.status = "running"  # till the worker says otherwise (queued, done)
            self._running, self.training.message = True, message
            self._publish(visuals=False)
            self.heartbeat()  # pressing a button is a sign of life
            self._wake()

    resume = start

    def pause(self) -> None:
        with self._control():
            self._running = False
            if self.training is not None:
                if self.training.status in ("running", "queued"):
                    self.training.status = "paused"
                self._publish(visuals=self.visual_interval is not None)  # a paused page shows the step it is on
            self._cond.notify_all()

    def step(self, phase: str | None = None) -> None:
        """One round (or one step of one phase, e.g. 'D'); pauses a running trainer first."""
        with self._control():
            if self.training is None or self.training.status in ("diverged", "closed"):
                return
            self._running = False
            self._pending.append(phase)
            self.heartbeat()
            self._wake()

    def stop(self) -> None:
        """End training; the model stays for viewing; `start` continues from here."""
        with self._control():
            self._running = False
            self._pending.clear()
            if self.training is not None:
                if self.training.status not in ("diverged", "closed", "ready"):
                    self.training.status = "stopped"
                self._publish(visuals=self.visual_interval is not None)
            self._cond.notify_all()

    def reset(self) -> None:
        """Fresh weights from the same seed, empty history, status ready."""
        with self._control():
            if self.training is None:
                return
            self._running, self._reset_requested = False, True
            self._pending.clear()
            self._wake()

    def close(self) -> None:
        """Stop the worker and free the model (a closed tab or a new setup)."""
        with self._control():
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._free("this run was closed")

    def _free(self, message: str) -> None:
        with self._cond:
            self.limiter.release(self)
            self.training, self._running = None, False
            self._snapshot = dataclasses.replace(self._snapshot, status="closed", message=message)

    def _wake(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, daemon=True, name="genmodels-trainer")
            self._thread.start()
        self._cond.notify_all()

    # -- the worker thread --------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                if self._interrupt:  # a control waits for the lock: let it in
                    self._cond.wait(timeout=0.01)
                    continue
                compile_now = self._next()
                if compile_now is None:
                    if self._closing or self.training is None:
                        return
                    continue
            compile_now()  # outside the lock: pause, stop and close answer at once
            with self._cond:
                if self.training is not None and self.training.message == COMPILING:
                    self.training.message = self.training.compile_error or ""
                    self._publish(visuals=False)

    def _next(self) -> Callable[[], None] | None:
        """Do the next piece of work under the lock; a compile job to run outside it, or None."""
        if self._closing or self.training is None:
            return None
        if self._silent_for(self.drop_timeout):
            self._free("no page refresh for a long time (a closed or idle tab): this run was closed to free memory")
            return None
        t = self.training
        if self._running and self._silent_for(self.idle_timeout):
            self._pause_idle()
        elif self._reset_requested:
            self._reset_requested = False
            self.limiter.release(self)
            t.reset()
            self._fresh_pictures()
        elif self._pending:
            self._do_pending_step()
        elif not self._running:
            self.limiter.release(self)
            self._cond.wait(timeout=1.0)
        elif not self.limiter.try_acquire(self, self._nudge):
            self._queued()
        elif t.needs_compiling:
            t.status, t.message = "running", COMPILING
            self._publish(visuals=False)
            return t.compile_job()
        else:
            self._run_block()
        return None

    def _queued(self) -> None:
        """Say the run waits, and its place now and then (with 2 s shared by a queue of 25, every place
        changes five times a second: a snapshot each would cost its host and the web process for nothing)."""
        t, now = self.training, time.monotonic()
        moved = self._snapshot.queue_position != self.limiter.position(self) and now - self._queue_news >= QUEUE_NEWS
        if t.status != "queued" or moved:
            t.status, self._queue_news = "queued", now
            self._publish()  # only news
        self._cond.wait(timeout=0.2)  # or until `_nudge`: a slot freed with this run at the head

    def _nudge(self) -> None:
        """Wake the worker if it waits (never blocks: a worker holding its lock is busy and looks soon)."""
        if self._cond.acquire(blocking=False):
            try:
                self._cond.notify_all()
            finally:
                self._cond.release()

    def _silent_for(self, timeout: float | None) -> bool:
        return timeout is not None and time.monotonic() - self.last_seen > timeout

    def _pause_idle(self) -> None:
        self._running, self.training.status = False, "paused"
        self.training.message = f"paused after {self.idle_timeout:g} s without a page refresh (an idle or closed tab)"
        self.limiter.release(self)
        self._publish(visuals=False)

    def _do_pending_step(self) -> None:
        if self._block(1, self._pending.pop(0)):
            self.training.status = "paused"
        self._publish(visuals=self.visual_interval is not None)

    def _run_block(self) -> None:
        self._train_towards(self.config.steps)
        self._running = self.training.status == "running"
        if self.limiter.should_yield(self):
            self.limiter.release(self)  # queue again behind the sessions that wait (round robin)
        self._publish(visuals=None if self._running else self.visual_interval is not None)
