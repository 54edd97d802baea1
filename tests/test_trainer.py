"""Trainer semantics: run, background start/pause/step/stop/reset, NaN handling, heartbeats, limiter."""

import gc
import time
import weakref
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from genmodels.config import TrainConfig
from genmodels.data import Dataset
from genmodels.hosting.limiter import Limiter
from genmodels.hosting.trainer import Trainer
from genmodels.models import GenerativeModel


@dataclass(frozen=True)
class Cfg:
    poison_at: int = -1  # the step whose loss becomes NaN


class Gauss(GenerativeModel):
    """A learnable-mean Gaussian: tiny, exact, and able to diverge on demand."""

    family = "flow"
    Config = Cfg

    def __init__(self, config=Cfg(), dim=2, shape=()):
        super().__init__(config, dim, shape)
        self.mu = nn.Parameter(torch.zeros(dim))
        self.calls = 0

    def log_prob(self, x):
        return -0.5 * ((x - self.mu) ** 2).sum(-1)

    def loss(self, x, phase="model"):
        self.calls += 1
        nll = -self.log_prob(x).mean()
        if self.calls == self.config.poison_at:
            nll = nll * float("nan")
        return {"loss": nll}

    def sample(self, n):
        return self.mu + torch.randn(n, self.dim)


DATA = Dataset("shifted", "dataset-2d", np.full((1000, 2), 3, np.float32), np.full((100, 2), 3, np.float32), (2,))


def trainer(steps=10_000, cfg=Cfg(), **kw) -> Trainer:
    return Trainer(lambda: Gauss(cfg), DATA, TrainConfig(steps=steps, lr=0.05, batch_size=8), **kw)


def wait_for(predicate, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_run_learns_and_logs_history():
    t = trainer()
    snap = t.run(300)
    assert snap.step == 300 and snap.status == "done"
    assert torch.allclose(t.model.mu, torch.full((2,), 3.0), atol=0.1)
    steps, losses = snap.history["loss"].T
    assert steps[-1] == 300 and losses[-1] < losses[0]
    with pytest.raises(ValueError):
        snap.history["loss"][0, 0] = 1  # snapshots are read-only


def test_background_start_pause_step_stop_reset():
    t = trainer(steps=10**9, visual_interval=None)  # a budget no block reaches, however long blocks are
    t.start()
    assert wait_for(lambda: t.snapshot().step > 20)
    t.pause()
    assert wait_for(lambda: t.snapshot().status == "paused" and not t.active)
    paused_at = t.snapshot().step
    time.sleep(0.3)
    assert t.snapshot().step == paused_at  # really paused
    t.step()
    assert wait_for(lambda: t.snapshot().step == paused_at + 1)
    t.start()
    assert wait_for(lambda: t.snapshot().step > paused_at + 20)
    t.stop()
    assert wait_for(lambda: t.snapshot().status == "stopped")
    stopped_at = t.snapshot().step
    time.sleep(0.3)
    assert t.snapshot().step == stopped_at
    t.reset()
    assert wait_for(lambda: t.snapshot().step == 0 and t.snapshot().status == "ready")
    assert t.snapshot().history == {} and float(t.model.mu.detach().abs().sum()) == 0.0
    t.close()


def test_a_control_is_served_within_a_few_chunks_while_a_fast_model_trains(monkeypatch):
    """Locks are not fair: a worker that re-took its lock at once after each chunk kept a pause waiting
    for about 120 chunks here (12 s), and for ever on a GPU. Between chunks it must let a waiting control in."""
    t = trainer(steps=10**9, visual_interval=None)
    chunks, chunk = [0], Trainer._block

    def counted(self, *args, **kwargs):
        chunks[0] += 1
        return chunk(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_block", counted)
    waited = []
    for _ in range(10):
        t.start()
        assert wait_for(lambda: chunks[0] > 0)
        before = chunks[0]
        t.pause()
        waited.append(chunks[0] - before)
    t.close()
    assert max(waited) <= 5, waited


def test_stops_by_itself_at_the_step_budget():
    t = trainer(steps=50, visual_interval=None)
    t.start()
    assert wait_for(lambda: t.snapshot().status == "done")
    assert t.snapshot().step == 50
    t.close()


def test_nan_loss_stops_reports_the_step_and_keeps_last_good_weights():
    t = trainer(cfg=Cfg(poison_at=37))
    snap = t.run(100)
    assert snap.status == "diverged" and "at step 37" in snap.message
    assert snap.step < 37
    assert torch.isfinite(t.model.mu).all()
    logged = snap.history.get("loss")
    assert logged is None or logged[-1, 0] == snap.step  # nothing of the bad chunk was logged
    t.start()  # a diverged run does not restart by itself
    assert t.snapshot().status == "diverged"


def test_worker_without_heartbeat_stops_and_frees_the_model():
    t = trainer(idle_timeout=0.3, drop_timeout=0.6)  # paused after 0.3 s of silence, closed after 0.6 s
    ref = weakref.ref(t.model)
    t.start()
    assert wait_for(lambda: t.snapshot().status == "closed", timeout=10)
    assert wait_for(lambda: not t._thread.is_alive())
    gc.collect()
    assert ref() is None and t.model is None
    assert "tab" in t.snapshot().message


def test_limiter_queues_the_third_trainer_until_a_slot_frees():
    limiter = Limiter(2)
    ts = [trainer(steps=10**9, visual_interval=None, limiter=limiter) for _ in range(3)]
    for t in ts:
        t.start()
        time.sleep(0.05)
    assert wait_for(lambda: ts[2].snapshot().status == "queued")
    assert ts[2].snapshot().queue_position == 1 and ts[2].snapshot().step == 0
    ts[0].pause()
    assert wait_for(lambda: ts[2].snapshot().step > 0)
    assert limiter.active == 2
    for t in ts:
        t.close()
    assert limiter.active == 0


def test_visuals_come_with_the_snapshot():
    t = trainer()
    t.run(5)
    v = t.snapshot().visuals
    assert set(v) >= {"grid_x", "grid_y"}
    assert t.snapshot().visuals_step == 5


@pytest.mark.parametrize(("live_share", "fresh_visuals"), [(1e12, True), (1e-12, False)])
def test_the_cost_of_visuals_spaces_them(monkeypatch, live_share, fresh_visuals):
    """With no interval and a share so large that visuals cost nothing of it, they come after every chunk.
    With a share so small that any cost is a budget of hours of training, the first trained visuals (step 1)
    are the last until the run's end: those of step 0, made with the trainer before it trains, are free."""
    monkeypatch.setenv("GENMODELS_LIVE_SHARE", str(live_share))
    t = trainer(visual_interval=0.0, chunk_seconds=0.0)  # one step per chunk
    drawn = []
    t.run(5, on_chunk=lambda snap: drawn.append(snap.visuals_step))
    assert drawn[:-1] == ([1, 2, 3, 4] if fresh_visuals else [1, 1, 1, 1])
    assert drawn[-1] == 5  # a run's end always brings fresh visuals


def test_visuals_refresh_while_training_in_the_background():
    t = trainer(steps=10**9, visual_interval=0.01)
    t.start()
    assert wait_for(lambda: t.snapshot().visuals_step > 0 and t.snapshot().status == "running", timeout=60)
    t.close()


@pytest.mark.parametrize("control", ["pause", "stop"])
def test_a_paused_or_stopped_run_shows_the_pictures_of_the_step_it_is_on(control):
    """Pictures are budgeted while training (a lecturer once paused at step 279 beside pictures of step 36);
    once training halts, the snapshot's visuals are of its exact step."""
    t = trainer(visual_interval=1e6)  # while training: no new visuals after the first ones
    t.start()
    assert wait_for(lambda: t.snapshot().step > 20)
    getattr(t, control)()
    assert wait_for(lambda: not t.active)
    snap = t.snapshot()
    assert snap.visuals_step == snap.step > 20
    t.close()


@dataclass(frozen=True)
class Wild:
    blow_up_at: int = -1  # the step whose loss is multiplied by 1e7 (finite, but exploded)
    nan_weights_after: int = -1  # the step after which the weights become NaN (its loss was finite)


class WildGauss(Gauss):
    Config = Wild

    def loss(self, x, phase="model"):
        self.calls += 1
        nll = -self.log_prob(x).mean()
        return {"loss": nll * 1e7 if self.calls == self.config.blow_up_at else nll}

    def after_step(self, phase):
        if self.calls == self.config.nan_weights_after:
            with torch.no_grad():
                self.mu.fill_(float("nan"))


def wild_trainer(**cfg) -> Trainer:
    return Trainer(lambda: WildGauss(Wild(**cfg)), DATA, TrainConfig(steps=100, lr=0.05, batch_size=8),
                   visual_interval=None)


def test_an_exploding_but_finite_loss_is_divergence_too():
    snap = wild_trainer(blow_up_at=30).run(100)
    assert snap.status == "diverged" and "at step 30" in snap.message and snap.step < 30
    assert "loss became" in snap.message and "e+0" in snap.message  # the exploded value, e.g. 1.2e+08


def test_weights_that_became_nan_after_a_finite_step_are_not_kept():
    """One Step at a time: the step's loss was finite but its update left NaN weights. The run stops
    there and keeps the finite weights from before it (a checkpoint of NaN weights is useless)."""
    t = wild_trainer(nan_weights_after=3)
    for _ in range(3):
        t.step()
        assert wait_for(lambda: not t.active)
    snap = t.snapshot()
    assert snap.status == "diverged" and "at step 3" in snap.message and snap.step == 2
    weights, step = t.weights()
    assert step == 2 and all(torch.isfinite(w).all() for w in weights.values())
    t.close()
