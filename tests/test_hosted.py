"""Hosted use: environment caps, the round-robin limiter, idle runs paused then closed, memory freed."""

from __future__ import annotations

import gc
import time
import weakref

import numpy as np
import pytest
import torch

from genmodels.config import TrainConfig
from genmodels.data import Dataset
from genmodels.errors import UserError
from genmodels.hosting.limiter import Limiter
from genmodels.hosting.limits import Limits, count_parameters
from genmodels.hosting.trainer import Trainer
from genmodels.models import MODELS
from genmodels.setup import Setup

torch.set_num_threads(1)
RealNVP = MODELS["realnvp"]


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    """Poll until `condition()` holds; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.02)


@pytest.fixture
def data() -> Dataset:
    x = np.random.default_rng(0).normal(size=(600, 2)).astype(np.float32)
    return Dataset("blob", "dataset-2d", x[:500], x[500:], (2,))


def trainer(data: Dataset, limiter: Limiter, **timeouts) -> Trainer:
    config = RealNVP.Config(layers=2, hidden=8)
    return Trainer(lambda: RealNVP(config, 2), data, TrainConfig(steps=10**6, batch_size=32), device="cpu",
                   visual_interval=None, limiter=limiter, **timeouts)


# -- caps from the environment ---------------------------------------------------------------
def test_limits_read_the_environment_over_the_callers_defaults():
    env = {"GENMODELS_MAX_STEPS": "5000", "GENMODELS_MAX_PARAMS": "2e6", "GENMODELS_IDLE_TIMEOUT": "30",
           "GENMODELS_DROP_TIMEOUT": "none", "GENMODELS_MAX_ROWS": "20_000", "GENMODELS_MAX_TRAINERS": "3",
           "GENMODELS_REFRESH": "1"}
    limits = Limits.from_env(env, max_params=10**9, drop_timeout=600.0, time_slice=5.0)
    assert limits == Limits(max_steps=5000, max_params=2_000_000, max_rows=20_000, idle_timeout=30.0,
                            drop_timeout=None, refresh=1.0, max_trainers=3, time_slice=5.0)
    assert Limits.from_env({}) == Limits()  # the CLI's defaults: no caps beyond the configs' ranges


@pytest.mark.parametrize("name, value", [("GENMODELS_MAX_STEPS", "0"), ("GENMODELS_MAX_STEPS", "1.5"),
                                         ("GENMODELS_MAX_TRAINERS", "none"), ("GENMODELS_TIME_SLICE", "inf")])
def test_limits_reject_bad_environment_values(name, value):
    with pytest.raises(UserError, match=name):
        Limits.from_env({name: value})


def test_parameters_are_counted_on_the_meta_device():
    """The count equals the real model's, and the model it counts is never allocated."""
    config = RealNVP.Config(layers=3, hidden=16, depth=2)
    devices = []

    def build():
        devices.append(torch.empty(0).device.type)
        return RealNVP(config, 5)

    assert count_parameters(build) == sum(p.numel() for p in RealNVP(config, 5).parameters())
    assert devices == ["meta"]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dim, shape", [(2, (2,)), (64, (1, 8, 8))])
def test_every_model_is_counted_on_the_meta_device(name, dim, shape):
    cls = MODELS[name]
    built = []

    def build():
        built.append(torch.empty(0).device.type)
        return cls(cls.Config(), dim, shape)

    try:
        real = build()
    except UserError:  # a family that refuses this data (the 2D-only diffusion models on images) refuses it counted
        with pytest.raises(UserError):
            count_parameters(build)
        return
    built.clear()
    assert count_parameters(build) == sum(p.numel() for p in real.parameters())
    assert built[0] == "meta"  # no model was allocated to count it


def test_a_huge_model_is_counted_without_allocating_it():
    """32 couplings of mlp(392 -> 1024 x6 -> 2·392) plus a scale vector each: 206M parameters, ~0.8 GB if built."""
    config = RealNVP.Config(layers=32, hidden=1024, depth=6)
    a = b = 784 // 2  # dimensions in and out of each coupling's net
    h = 1024
    per_layer = (a * h + h) + 5 * (h * h + h) + (h * 2 * b + 2 * b) + b
    assert count_parameters(lambda: RealNVP(config, 784, (1, 28, 28))) == 32 * per_layer


def test_limits_check_passes_a_setup_within_the_caps():
    setup = Setup(model="realnvp", model_config=RealNVP.Config(layers=2, hidden=8), train=TrainConfig(steps=100))
    Limits(max_steps=100, max_params=10_000, max_rows=10).check(setup, setup.load_data())


# -- the limiter ----------------------------------------------------------------------------
def test_limiter_is_first_come_first_served_and_round_robin():
    limiter, a, b, c = Limiter(1, time_slice=0.0), object(), object(), object()
    assert limiter.try_acquire(a) and not limiter.try_acquire(b) and not limiter.try_acquire(c)
    assert (limiter.position(a), limiter.position(b), limiter.position(c)) == (0, 1, 2)
    assert limiter.should_yield(a) and not limiter.should_yield(b)
    limiter.release(a)
    assert not limiter.try_acquire(a) and limiter.position(a) == 3  # back of the queue
    assert not limiter.try_acquire(c) and limiter.try_acquire(b)  # b was first in line
    assert Limiter(1, time_slice=None).try_acquire(a) and not Limiter(1, None).should_yield(a)


def test_trainers_share_one_slot_by_time_slices(data):
    limiter = Limiter(1, time_slice=0.05)
    first, second = trainer(data, limiter), trainer(data, limiter)
    try:
        first.start()
        wait_for(lambda: first.training.step > 0, "the first trainer runs")
        second.start()
        wait_for(lambda: second.training.step > 0, "the second trainer gets a turn")
        mark = first.training.step
        wait_for(lambda: first.training.step > mark, "the first trainer gets its slot back")
    finally:
        first.close()
        second.close()
    assert limiter.active == 0 and limiter.position(first) == limiter.position(second) == 0


# -- idle sessions: paused, then dropped; a closed tab frees its memory -------------------------
def test_a_silent_page_pauses_training_then_frees_the_model(data):
    limiter = Limiter(1)
    t = trainer(data, limiter, idle_timeout=0.2, drop_timeout=1.5)
    model = weakref.ref(t.model)
    t.start()
    wait_for(lambda: t.training.step > 0, "training starts")
    wait_for(lambda: t.snapshot().status == "paused", "the run is paused for want of heartbeats")
    assert "without a page refresh" in t.snapshot().message and limiter.active == 0
    step = t.training.step
    wait_for(lambda: t.snapshot().status == "closed", "the run is closed")
    t._thread.join(timeout=10)
    assert not t._thread.is_alive() and t.model is None and t.snapshot().step == step
    gc.collect()
    assert model() is None, "the closed run's model is still referenced"


def test_heartbeats_keep_a_run_going_and_resume_restarts_a_paused_one(data):
    t = trainer(data, Limiter(1), idle_timeout=1.0, drop_timeout=60)
    try:
        t.start()
        for _ in range(30):  # 1.5 s of refreshes, longer than idle_timeout
            t.heartbeat()
            time.sleep(0.05)
        assert t.snapshot().status in ("running", "queued") and t.active
        wait_for(lambda: t.snapshot().status == "paused", "the silent run pauses")
        step = t.training.step
        t.start()  # pressing Resume counts as a heartbeat
        wait_for(lambda: t.heartbeat() or t.snapshot().step > step, "the resumed run trains again")
        assert t.snapshot().message == ""
    finally:
        t.close()


def test_a_waiting_run_says_why_and_that_the_runs_take_turns():
    from playground.controls import waiting

    text = waiting(1, 2, Limits(max_trainers=1, time_slice=2.0))
    assert "place 1 in its queue" in text and "trains 2 runs at once (2 training processes, 1 run each)" in text
    assert "trained 2 s while others wait hands its slot on" in text and "take turns" in text
    assert "take turns" not in waiting(3, 1, Limits(time_slice=None)) and "1 run at once" in waiting(3, 1, Limits())


def test_a_long_queue_shortens_the_turns_so_every_run_trains_soon(monkeypatch):
    """With 2 s slices and 19 runs waiting, the run holding the slot hands it on after 2/19 s, not 2 s
    (and never before MIN_TURN)."""
    from genmodels.hosting import limiter as module

    now = [0.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    limiter, runs = Limiter(1, time_slice=2.0), [object() for _ in range(20)]
    for run in runs:
        limiter.try_acquire(run)
    now[0] = module.MIN_TURN - 0.01
    assert not limiter.should_yield(runs[0])
    now[0] = max(module.MIN_TURN, 2.0 / 19) + 0.01
    assert limiter.should_yield(runs[0])
