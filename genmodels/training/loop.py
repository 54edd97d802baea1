"""The training loop: synchronous, in the caller's thread, and the same on any machine.

`Training` owns a model, its optimisers and the run's random streams, and trains rounds
when asked: `train(n)` for n rounds (a host may end a block early through `keep_going`),
`run(steps)` to the budget. It knows a model only through `phases`, `configure_optimizers`,
`loss` and `after_step` (minGPT's rule), and nothing of threads, clocks or pages: what it
records depends on the steps taken alone, however they were split into blocks.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch

from ..config import TrainConfig
from ..data import Dataset
from ..device import pick_device
from ..errors import UserError
from ..evaluation.theory import BESIDE_VISUALS
from ..models import GenerativeModel
from .compiled import CompiledLoss
from .history import History
from .rng import Streams, building_with, resumed_seed
from .snapshot import Snapshot, frozen
from .stopping import conditions

GRID_SIZE = 64
PROBE_POINTS = 1000  # held-out points handed to `model.set_probe` (their labels: data.test_labels[:1000])
EXPLODED = 1e6  # a loss whose size passes this many times its first step's (and at least this) has diverged
RUN_BLOCK = 100  # rounds between `run`'s callbacks
STOP_EVERY = 10  # steps between two checks of the stop conditions


def plot_grid(data: Dataset, size: int = GRID_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Axis ticks of a square grid covering the 2D data with a margin."""
    lo, hi = np.percentile(data.train, [0.5, 99.5], axis=0)
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * 1.25 + 0.1
    return tuple(np.linspace(c - half, c + half, size, dtype=np.float32) for c in centre)


class Training:
    """Train `build()`'s model on `data` with `config`: the steps, their history, and when to stop."""

    def __init__(self, build: Callable[[], GenerativeModel], data: Dataset, config: TrainConfig | None = None,
                 device: str | torch.device | None = None):
        self.build, self.data, self.config = build, data, config or TrainConfig()
        self.device = device if isinstance(device, torch.device) else pick_device(device, points=data.dim == 2)
        self.train_x = torch.as_tensor(data.train, device=self.device)
        if data.dim == 2:
            self.grid_axes = plot_grid(data)
            mesh = np.stack(np.meshgrid(*self.grid_axes), -1).reshape(-1, 2)
            self.grid = torch.as_tensor(mesh, device=self.device)
        self._history_copy: tuple[History | None, int, dict] = None, -1, {}
        self.reset()

    def reset(self) -> None:
        """Fresh weights from the seed, empty history, status ready."""
        streams = Streams.from_seed(self.config.seed, self.device)
        with building_with(streams.init):
            model = self.build()
        self.model = model.to(self.device)
        self.model.use_rng(streams.torch)
        self.batches = streams.torch
        self.model.init_from_data(self.train_x[: min(len(self.train_x), 4096)])
        self.model.set_probe(torch.as_tensor(self.data.test[:PROBE_POINTS], device=self.device))
        self.optimizers = self.model.configure_optimizers(self.config.lr)
        self.loss = CompiledLoss(self.model) if self.config.compile else self.model.loss
        self.step, self.status, self.message = 0, "ready", ""
        self.history = History()
        self._first_loss: dict[str, float] = {}
        self._armed = conditions(self.config.stop_when, self.config.patience)  # each fires once per run

    # -- training ---------------------------------------------------------------------------------
    def _batch(self) -> torch.Tensor:
        idx = torch.randint(len(self.train_x), (self.config.batch_size,), device=self.device, generator=self.batches)
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

    def _schedule_lr(self, step: int) -> None:
        """Cosine decay (Loshchilov & Hutter 2017, SGDR without restarts): step t of the budget T trains at
        lr_0 · (1 + cos(π t/T))/2 for each parameter group's own lr_0. A function of the step alone, so a
        resumed or re-blocked run trains at the same rates."""
        if self.config.lr_schedule == "constant":
            return
        factor = 0.5 * (1 + math.cos(math.pi * min(step / self.config.steps, 1.0)))
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor

    def _round(self, only: str | None = None) -> dict[str, torch.Tensor]:
        """One training round: each phase's optimiser steps `repeats` times (or one phase once)."""
        out: dict[str, torch.Tensor] = {}
        for phase in self.model.phases():
            if only is None or phase.name == only:
                for _ in range(1 if only else phase.repeats):
                    out.update(self._optimise(phase.name))
        return out

    def train(self, rounds: int, only: str | None = None, keep_going: Callable[[], bool] = lambda: True) -> bool:
        """Up to `rounds` rounds (fewer once `keep_going()` says no; at least one), each step's losses recorded.

        Armed stop conditions are checked at every multiple of STOP_EVERY steps, and one that fires ends
        the rounds there (status 'done'): when a run stops depends on its steps alone, not on how they
        were split into blocks. False if the rounds diverged (see `_block`).
        """
        first = True
        while rounds > 0 and (first or keep_going()):
            n = min(rounds, STOP_EVERY - self.step % STOP_EVERY) if self._armed else rounds
            before, first = self.step, False
            if not self._block(n, only, keep_going):
                return False
            rounds -= self.step - before
            if self._armed and self.step % STOP_EVERY == 0 and self._condition_fired():
                break
        return True

    def _block(self, rounds: int, only: str | None, keep_going: Callable[[], bool]) -> bool:
        """Up to `rounds` rounds, recorded. False if they diverged: a non-finite or exploded loss, or
        non-finite weights after them; then the weights from before are restored, and status and message
        say at which step."""
        self.compile()
        good = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        rows = []
        while len(rows) < rounds and (not rows or keep_going()):
            self._schedule_lr(self.step + len(rows))
            rows.append(self._round(only))
        names = list(rows[0])
        values = torch.stack([torch.stack([r[n] for n in names]) for r in rows]).float().cpu().numpy()
        bad = self._bad_rows(names, values)
        if bad.any() or not self._weights_finite():
            first_bad = int(np.argmax(bad)) if bad.any() else len(rows) - 1
            self._diverged(good, first_bad, names, values)
            return False
        self.history.add(self.step + 1, names, values)
        self.step += len(rows)
        return True

    def _bad_rows(self, names: list[str], values: np.ndarray) -> np.ndarray:
        """Rows with a non-finite loss, or one EXPLODED times larger than its first step's."""
        for name, value in zip(names, values[0]):
            self._first_loss.setdefault(name, abs(float(value)))
        scale = np.array([EXPLODED * max(1.0, self._first_loss[n]) for n in names])
        return ~np.isfinite(values).all(1) | (np.abs(values) > scale).any(1)

    def _weights_finite(self) -> bool:
        return bool(torch.stack([p.isfinite().all() for p in self.model.parameters()]).all())

    def _diverged(self, good: dict, first_bad: int, names: list[str], values: np.ndarray) -> None:
        step, row = self.step + first_bad + 1, values[first_bad]
        bad = [(n, v) for n, v in zip(names, row) if not np.isfinite(v)] or [
            (n, v) for n, v in zip(names, row) if abs(v) > EXPLODED * max(1.0, self._first_loss[n])]
        what = f"{bad[0][0]} became {bad[0][1]:.4g} at step {step}" if bad else f"the weights became NaN at step {step}"
        self.model.load_state_dict(good)
        self.optimizers = self.model.configure_optimizers(self.config.lr)
        self.status = "diverged"
        self.message = (f"{what}; training stopped and the weights of step {self.step} were kept. "
                        "Lower the learning rate and start again (Reset in the app).")

    def check_stop(self, budget: int) -> None:
        """After good rounds: 'done' when the step budget is spent (stop conditions: `train`).

        A condition that fired is disarmed, so training on goes to the budget (or another condition).
        """
        if self.step >= budget:
            self.status, self.message = "done", f"reached {budget} steps"

    def _condition_fired(self) -> bool:
        """The first armed stop condition that holds now: status 'done', its reason the message, disarmed."""
        history = self.history.rows()
        for condition in self._armed:
            reason = condition.check(history, self.step)
            if reason:
                self._armed.remove(condition)
                self.status, self.message = "done", reason
                return True
        return False

    def run(self, steps: int, on_block: Callable[[Training], None] | None = None, block: int = RUN_BLOCK) -> Snapshot:
        """Train `steps` rounds; stop early on divergence or a stop condition. `on_block` after each block."""
        target = self.step + steps
        self.status = "running"
        while self.status == "running":
            if self.step >= target or self.train(min(block, target - self.step)):
                self.check_stop(target)
            if on_block:
                on_block(self)
        return self.snapshot()

    # -- torch.compile --------------------------------------------------------------------------------
    @property
    def compile_error(self) -> str | None:
        """Why torch.compile was given up for this run (None: not asked for, or it compiled)."""
        return self.loss.error if isinstance(self.loss, CompiledLoss) else None

    @property
    def needs_compiling(self) -> bool:
        return isinstance(self.loss, CompiledLoss) and not self.loss.warm

    def compile(self) -> None:
        if self.needs_compiling:
            self.compile_job()()
            self.message = self.compile_error or ""

    def compile_job(self) -> Callable[[], None]:
        """Compiling the loss before the first step, on a fixed batch, leaving the run's random streams alone.

        Bound to this model's tensors, so a host may run it outside its lock.
        """
        loss, rows = self.loss, torch.arange(self.config.batch_size, device=self.device) % len(self.train_x)
        x, phases = self.train_x[rows], [p.name for p in self.model.phases()]
        return lambda: loss.warm_up(x, phases)

    # -- what watchers see ----------------------------------------------------------------------------
    def visuals(self) -> dict[str, np.ndarray]:
        """The family's pictures of the current weights, read-only. Their draws come from a generator
        seeded by the step: the same pictures of the same weights, and the training stream untouched."""
        generator = torch.Generator(self.device).manual_seed(self.step)
        with self.model.drawing_from(generator):
            out = self.model.visuals(self.grid if self.data.dim == 2 else None)
        if self.data.dim == 2:  # a model may plot on its own grid (a flow fitted to a target energy)
            out.setdefault("grid_x", self.grid_axes[0])
            out.setdefault("grid_y", self.grid_axes[1])
        if beside := BESIDE_VISUALS.get(self.model.family):  # what needs the data too (a GAN's D*)
            out.update(beside(out, self.data))
        return {k: frozen(v) for k, v in out.items()}

    def snapshot(self, **extra) -> Snapshot:
        """The state now; `extra` fills the fields a host knows (visuals, rate, queue place, timeline)."""
        return Snapshot(step=self.step, status=self.status, message=self.message, history=self._frozen_history(),
                        device=str(self.device), **extra)

    def _frozen_history(self) -> dict:
        """Read-only copies of the loss curves, made once per step (a queued run's snapshots share them)."""
        history, step, copy = self._history_copy
        if history is not self.history or step != self.step:
            copy = {k: frozen(v) for k, v in self.history.arrays().items()}
            self._history_copy = self.history, self.step, copy
        return copy

    # -- weights --------------------------------------------------------------------------------------
    def weights(self) -> dict[str, torch.Tensor]:
        """A CPU copy of the weights."""
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def load_weights(self, state: dict[str, torch.Tensor], step: int, history: History | None = None) -> None:
        """Continue from saved weights (a checkpoint) at `step` with their loss history (None: an empty one);
        `reset` still gives fresh ones."""
        try:
            self.model.load_state_dict(state)
        except RuntimeError as e:
            raise UserError(f"these weights do not fit this model: {str(e).splitlines()[0]}") from None
        self.optimizers = self.model.configure_optimizers(self.config.lr)
        self.step, self.status, self.message = step, "paused", f"loaded the weights of step {step}"
        self.history = history or History()

    # -- resuming on another host -----------------------------------------------------------------------
    def state(self) -> dict:
        """Everything to go on exactly from here elsewhere (a host that dies costs only the steps since):
        CPU copies of the weights and optimiser states, the step, the history, the run's generator, and which
        stop conditions are still armed (one that fired and was trained past must not fire again there)."""
        def cpu(x):
            return x.detach().cpu().clone() if isinstance(x, torch.Tensor) else x
        optimizers = {name: {"state": {k: {n: cpu(v) for n, v in s.items()} for k, s in sd["state"].items()},
                             "param_groups": sd["param_groups"]}
                      for name, sd in ((n, o.state_dict()) for n, o in self.optimizers.items())}
        return {"weights": self.weights(), "optimizers": optimizers, "step": self.step,
                "history": self.history.state(), "rng": self.batches.get_state(), "first_loss": dict(self._first_loss),
                "armed": list(self._armed)}

    def restore(self, state: dict) -> None:
        """Go on from `state()` taken from a run of the same setup; status paused.

        A generator's state fits only a generator of its device. A run saved on a GPU and resumed where
        there is none (a Ray cluster of GPU and CPU-only nodes) draws on from a stream seeded by its seed
        and step (`rng.resumed_seed`): the same for every such resume, not the stream it would have had.
        """
        self.model.load_state_dict(state["weights"])
        for name, opt in self.optimizers.items():  # a copy: torch's optimisers keep the tensors they are given
            opt.load_state_dict(copy.deepcopy(state["optimizers"][name]))
        self.step, self.status, self.message = state["step"], "paused", ""
        self.history = History.from_state(state["history"], state["step"], self.history.capacity)
        try:
            self.batches.set_state(state["rng"])
        except RuntimeError:  # the state of another device's generator
            self.batches.manual_seed(resumed_seed(self.config.seed, state["step"]))
        self._first_loss, self._armed = dict(state["first_loss"]), list(state["armed"])
