"""Stop conditions end a run by themselves; the timeline of past visuals stays bounded."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from genmodels.config import TrainConfig, build_config
from genmodels.data import Dataset
from genmodels.errors import UserError
from genmodels.hosting.trainer import Trainer
from genmodels.models import GenerativeModel
from genmodels.training.snapshot import TIMELINE_FRAMES
from genmodels.training.stopping import Plateau, Target, parse_target


@dataclass(frozen=True)
class NoSettings:
    pass


class Mean(GenerativeModel):
    """N(mu, I) with a learnable mean: loss 0.5 E|x - mu|^2 falls from ~10 to its floor 1.0, then plateaus."""

    family = "flow"
    Config = NoSettings

    def __init__(self, config=NoSettings(), dim=2, shape=()):
        super().__init__(config, dim, shape)
        self.mu = nn.Parameter(torch.zeros(dim))

    def loss(self, x, phase="model"):
        return {"loss": 0.5 * ((x - self.mu) ** 2).sum(-1).mean()}

    def sample(self, n):
        return self.mu + torch.randn(n, self.dim)

    def visuals(self, grid):
        return {"samples": self.sample(200).detach().numpy()}


rng = np.random.default_rng(0)
DATA = Dataset("normal-at-3", "dataset-2d", rng.normal(3, 1, (4000, 2)).astype(np.float32),
               rng.normal(3, 1, (400, 2)).astype(np.float32), (2,))


class Floor(Mean):
    """Loss 1 + Σ relu(3 - mu): falls by about lr per Adam step until mu passes 3, then is exactly 1.0.

    A plateau free of minibatch noise, so when it is detected depends on no random record lows.
    """

    def loss(self, x, phase="model"):
        return {"loss": 1 + torch.relu(3 - self.mu).sum()}


def trainer(model=Mean, **train) -> Trainer:
    config = build_config(TrainConfig, {"batch_size": 256, "lr": 0.05, **train})
    return Trainer(model, DATA, config, visual_interval=None)


@pytest.mark.parametrize(("text", "expected"), [
    ("loss < 1.3", Target("loss", "<", 1.3)),
    ("D_loss>-2e-1", Target("D_loss", ">", -0.2)),
    ("  kl < .5 ", Target("kl", "<", 0.5)),
    ("", None),
])
def test_parse_target(text, expected):
    assert parse_target(text) == expected


@pytest.mark.parametrize("text", ["loss", "loss <", "< 3", "loss <= 3", "__import__('os') < 1", "loss < 1; x"])
def test_bad_target_is_a_user_error_at_config_time(text):
    with pytest.raises(UserError, match="stop_when"):
        build_config(TrainConfig, {"stop_when": text})


def test_plateau_fires_only_after_patience_without_improvement():
    improving = {"loss": [(s, 10.0 - s / 100) for s in range(0, 500, 10)]}
    assert Plateau(100).check(improving, 490) is None
    flat_after_190 = {"loss": [(s, 10.0 - min(s, 190) / 100) for s in range(0, 500, 10)]}
    assert Plateau(100).check(flat_after_190, 280) is None
    assert "not improved on 8.1 (step 190) for 100 steps" in Plateau(100).check(flat_after_190, 290)
    tiny_gains = {"loss": [(s, 5.0 - s * 1e-6) for s in range(0, 500, 10)]}  # below the tolerance
    assert "(step 0)" in Plateau(100).check(tiny_gains, 490)

def test_plateau_watches_a_gan_loss_when_there_is_no_plain_loss():
    history = {"D_loss": [(10, 1.0), (20, 1.0)], "G_loss": [(10, 2.0), (20, 2.0)]}
    assert "D_loss" in Plateau(5).check(history, 20)


def test_target_names_a_curve_the_model_does_not_log():
    assert "logs only loss" in Target("kl", "<", 1).check({"loss": [(1, 2.0)]}, 1)


def test_trainer_stops_itself_on_a_plateau():
    snap = trainer(Floor, patience=50, lr=0.1).run(10_000)
    assert snap.status == "done" and "not improved on 1 " in snap.message, snap.message
    floor_at = int(snap.history["loss"][np.argmax(snap.history["loss"][:, 1] == 1.0), 0])
    assert floor_at >= 30  # mu moves about lr = 0.1 per step from 0 to 3
    assert floor_at + 50 <= snap.step < 10_000  # not before the patience has run out on the floor


def test_trainer_stops_itself_at_a_target_and_resume_goes_on():
    t = trainer(stop_when="loss < 1.5")
    snap = t.run(10_000)
    assert snap.status == "done" and snap.step < 10_000, snap.message
    assert snap.history["loss"][-1, 1] < 1.5
    assert "reached the target loss < 1.5" in snap.message
    stopped_at = snap.step
    snap = t.run(40)  # the condition fired once; running on reaches the new budget
    assert snap.step == stopped_at + 40
    assert snap.message == f"reached {stopped_at + 40} steps"


def test_a_target_trained_past_stays_disarmed_in_a_run_resumed_elsewhere():
    """A host that dies after a lecturer trained on past a target must not stop the resumed run there again."""
    t = trainer(stop_when="loss < 1.5")
    stopped_at = t.run(10_000).step
    t.run(20)  # on past the target, which still holds
    resumed = trainer(stop_when="loss < 1.5")
    resumed.restore(t.state(), "resumed")
    snap = resumed.run(40)
    assert snap.step == stopped_at + 60 and snap.message == f"reached {stopped_at + 60} steps", snap.message


def test_timeline_keeps_at_most_the_cap_evenly_thinned():
    t = Trainer(Mean, DATA, TrainConfig(batch_size=16))
    try:
        for _ in range(3 * TIMELINE_FRAMES):
            t.step()  # each single step publishes its visuals: one frame each
        deadline = time.monotonic() + 60
        while t.snapshot().step < 3 * TIMELINE_FRAMES and time.monotonic() < deadline:
            time.sleep(0.05)
        timeline = t.snapshot().timeline
    finally:
        t.close()
    steps = [f.step for f in timeline]
    assert TIMELINE_FRAMES // 2 <= len(timeline) <= TIMELINE_FRAMES
    assert steps[0] == 0 and steps[-1] == 3 * TIMELINE_FRAMES
    gaps = np.diff(steps)
    assert (gaps > 0).all() and gaps[:-1].max() == gaps[:-1].min()  # evenly spread, then the latest
    assert all("samples" in f.visuals for f in timeline)
