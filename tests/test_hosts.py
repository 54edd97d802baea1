"""Runs live on hosts, outside the web process: commands in, snapshots out, and a dead host costs a run
only the steps since its last state (issue 12)."""

from __future__ import annotations

import gc
import os
import pickle
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from idx_files import fake_mnist

from genmodels.data import load_dataset
from genmodels.errors import UserError
from genmodels.hosting.handle import RunHandle
from genmodels.hosting.host import Host, RunSpec
from genmodels.hosting.pool import Pool, spec_for
from genmodels.hosting.processes import ProcessHost
from genmodels.setup import Setup
from genmodels.training.loop import Training

SMALL = {"realnvp": {"layers": "2", "hidden": "16"}, "gan": {"g_hidden": "16", "d_hidden": "16"}}


def small(model: str = "realnvp", **settings) -> Setup:
    return Setup.from_query({"data": "moons", "model": model, "batch_size": "64", "steps": "100000",
                             **SMALL[model], **settings})


def wait_for(condition, timeout: float = 120.0, what: str = "the condition") -> None:
    """Poll `condition` until it holds; the bound is for a hung test, not a claim about speed."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("model", ["realnvp", "gan"])
def test_a_run_resumed_from_its_state_goes_on_exactly_as_if_never_stopped(model):
    """Weights, optimiser moments, history and the batch stream all travel: 30 + 30 steps on two
    `Training`s equal 60 on one, bit for bit."""
    setup = small(model)
    data = load_dataset("moons", 0)
    make = lambda: Training(lambda: setup.build_model(data), data, setup.train, device="cpu")  # noqa: E731
    whole, first, second = make(), make(), make()
    whole.run(60)
    first.run(30)
    second.restore(first.state())
    second.run(30)
    assert second.step == 60
    for k, v in whole.weights().items():
        assert torch.equal(v, second.weights()[k]), k
    for k, v in whole.history.arrays().items():
        np.testing.assert_array_equal(v, second.history.arrays()[k])


def test_a_state_whose_generator_is_of_another_device_resumes_on_a_stream_from_its_seed_and_step():
    """A CUDA generator's state (16 bytes: seed and offset) does not fit a CPU generator: the run goes on
    with its weights from a stream seeded by (seed, step), the same for every such resume (and two runs
    restored from one state share none of its tensors)."""
    setup = small("gan")
    data = load_dataset("moons", 0)
    make = lambda: Training(lambda: setup.build_model(data), data, setup.train, device="cpu")  # noqa: E731
    first = make()
    first.run(20)
    state = {**first.state(), "rng": torch.zeros(16, dtype=torch.uint8)}
    resumed = [make() for _ in range(2)]
    for r in resumed:
        r.restore(state)
        assert r.step == 20 and all(torch.equal(v, first.weights()[k]) for k, v in r.weights().items())
        r.run(10)
    assert all(torch.equal(v, resumed[1].weights()[k]) for k, v in resumed[0].weights().items())
    first.run(10)  # its own stream: other batches, other weights
    assert not all(torch.equal(v, first.weights()[k]) for k, v in resumed[0].weights().items())


def test_a_host_reports_news_once_with_the_replay_timeline_only_while_idle():
    host = Host()
    update = host.open("a", RunSpec(small(), visual_interval=0.0))
    assert update.snapshot.status == "ready" and update.phases == ("model",)
    host.command("a", "start")
    wait_for(lambda: host.poll({"a": (0, 0.0)})["a"].snapshot.step > 5, what="training on the host")
    live = host.poll({"a": (0, 0.0)})["a"]
    assert live.active and live.snapshot.timeline == ()  # a training run's updates stay small
    paused = host.command("a", "pause")
    assert not paused.active and paused.snapshot.status == "paused" and len(paused.snapshot.timeline) >= 1
    again = host.poll({"a": (paused.version, 0.0)})
    assert "a" not in again or again["a"].version == paused.version  # nothing new but, at most, a state
    with pytest.raises(UserError, match="unknown command"):
        host.command("a", "__init__")
    host.poll({}, gone=("a",))
    assert host.ready()["runs"] == []


def test_a_run_is_saved_after_seconds_of_its_own_training_not_of_the_clock():
    """A run of a class trains in short turns; saving it at each turn (every few seconds of the clock)
    cost its host a third of its time. It is saved after CHECKPOINT_SECONDS of its training, and after a
    reset (its training time starts again)."""
    from types import SimpleNamespace

    from genmodels.hosting.host import CHECKPOINT_SECONDS, _Run

    snap = SimpleNamespace(step=0)
    trainer = SimpleNamespace(snapshot=lambda: snap, training=object(), trained_seconds=0.0,
                              model=SimpleNamespace(phases=lambda: ()))
    run = _Run(trainer, 0)
    snap.step, trainer.trained_seconds = 40, CHECKPOINT_SECONDS / 2
    assert not run.checkpoint_due()  # however long it waited for its turn
    trainer.trained_seconds = CHECKPOINT_SECONDS
    assert run.checkpoint_due()
    run.saved_trained, run.saved_step = trainer.trained_seconds, snap.step
    snap.step, trainer.trained_seconds = 3, 0.1  # reset, then three steps
    assert run.checkpoint_due()


def test_a_tab_that_stops_refreshing_pauses_its_run_on_the_host():
    """Heartbeats travel with the polls: a run whose page fell silent past idle_timeout pauses (its
    compute is freed) and says why."""
    host = Host()
    host.open("a", RunSpec(small(), idle_timeout=0.5))
    host.command("a", "start")
    wait_for(lambda: host.poll({"a": (0, 10.0)})["a"].snapshot.status == "paused", what="the idle pause")
    assert "without a page refresh" in host.poll({"a": (0, 10.0)})["a"].snapshot.message


def test_a_handle_keeps_its_visuals_dict_while_the_host_says_they_are_unchanged():
    """Updates cross as pickles, so every one brings new objects; a page memoises its pictures by the
    visuals' identity, so a handle keeps the visuals it has while its host sends the same ones."""
    host = Host()
    crossed = lambda update: pickle.loads(pickle.dumps(update))  # noqa: E731

    class OneHost:  # the pool's side of a handle, in this process
        def open(self, handle):
            return crossed(host.open(handle.id, handle.spec))

        def close(self, run_id):
            host.close(run_id)

    handle = RunHandle(OneHost(), RunSpec(small(), visual_interval=3600.0))  # visuals at step 0 only, unforced
    first = handle.snapshot().visuals
    handle.receive(crossed(host.command(handle.id, "start")))
    wait_for(lambda: handle.receive(crossed(host.poll({handle.id: (0, 0.0)})[handle.id]))
             or handle.snapshot().step > 5, what="training on the host")
    snap = handle.snapshot()
    assert snap.visuals is first and snap.visuals_step == 0 and "log_density" in first
    step = snap.step  # a poll saying which version the handle has brings no visuals: it holds them
    wait_for(lambda: host._runs[handle.id].trainer.snapshot().step > step, what="more training")
    news = crossed(host.poll({handle.id: handle.seen()})[handle.id])
    assert news.snapshot.visuals == {} and news.snapshot.step > step
    handle.receive(news)
    assert handle.snapshot().visuals is first and handle.snapshot().step > step
    handle.receive(crossed(host.command(handle.id, "pause")))
    handle.receive(crossed(host.command(handle.id, "step")))  # a single step draws new visuals
    snap = handle.snapshot()
    assert snap.visuals is not first and snap.visuals_step == snap.step > 5
    handle.close()


class RecordedHost:
    """A Host called in this process, recording each call's method and first argument."""

    def __init__(self):
        self.host, self.calls = Host(), []

    def call(self, method, *args, timeout=None):
        self.calls.append((method, args[0] if args and method != "poll" else None))
        return getattr(self.host, method)(*args)

    def started(self):
        self.host.ready()

    def stop(self):
        pass


def test_every_host_warms_up_with_one_run_before_it_serves_even_a_replacement():
    """A fresh host's first run paid 1.2-1.6 s of imports and first pictures (a Ray actor), and the class's
    first pages waited for it together: each host opens and closes a run of the default setup first."""
    hosts = []
    pool = Pool(lambda i: hosts.append(RecordedHost()) or hosts[-1], 2)
    try:
        pool.warm(RunSpec(small(), visual_interval=0.25))
        pool.lost(pool._links[0])  # its replacement starts in the background and warms before its first poll
        wait_for(lambda: pool.hosts == 2, what="the replacement host")
        assert len(hosts) == 3
        for host in hosts:
            warmed = lambda h=host: any(c == ("close", r) for m, r in h.calls if m == "open" for c in h.calls)  # noqa: E731
            wait_for(warmed, what="a host's warm-up run")
            [run_id] = [r for m, r in host.calls if m == "open"]
            assert run_id.startswith("warm-") and host.host.ready()["runs"] == []
        assert hosts[2].calls[0] == ("open", run_id)  # the replacement: before its first poll
    finally:
        pool.shutdown()


def test_a_lost_hosts_runs_resume_at_once_while_its_replacement_is_still_starting():
    """A replacement may need READY_TIMEOUT to start, or find no room at all (a lost Ray node's CPUs): its
    runs must not wait for it, nor must new pages. A replacement that starts after shutdown is stopped."""
    starting, stopped = threading.Event(), []

    def make(i):
        host = RecordedHost()
        if i == 2:  # the replacement
            host.started = lambda: starting.wait(timeout=120)
        host.stop = lambda: stopped.append(i)
        return host

    pool = Pool(make, 2)
    try:
        handle = RunHandle(pool, spec_for(small(), None))
        doomed = handle.link
        pool.lost(doomed)
        assert handle.link is not doomed and handle.link in pool._links and handle.snapshot().status == "ready"
        other = RunHandle(pool, spec_for(small(), None))  # a new page opens on the live host meanwhile
        assert other.link is handle.link and pool.hosts == 1
    finally:
        pool.shutdown()
    assert 2 in stopped  # stopped while starting
    starting.set()  # it answers after all: stopped again, never added
    wait_for(lambda: stopped.count(2) == 2, what="the late replacement to be stopped")
    assert pool.hosts == 0


@pytest.fixture(scope="module")
def pool():
    pool = Pool(lambda i: ProcessHost(slots=1, time_slice=0.5), 2)
    yield pool
    pool.shutdown()


def test_a_run_trains_in_a_worker_process_and_a_page_reads_it_from_memory(pool):
    handle = RunHandle(pool, spec_for(small(), None))
    where = handle.link.host.call("ready")
    assert where["pid"] != os.getpid() and handle.id in where["runs"]
    handle.start()
    wait_for(lambda: handle.heartbeat() or handle.snapshot().step > 20, what="steps from the worker")
    handle.pause()
    snap = handle.snapshot()
    assert snap.status == "paused" and not handle.active
    weights, step, history = handle.checkpoint()
    assert step == snap.step and "loss" in history.arrays() and weights
    handle.close()
    assert handle.closed


def test_a_host_draws_the_pictures_its_spec_names_and_they_are_the_pages_own(pool):
    """With `render` named, each new visuals arrive with their PNGs, made in the worker process: byte for
    byte what the page would have drawn from those visuals itself."""
    from playground.pictures import PNG, RENDER, flow

    handle = RunHandle(pool, spec_for(small(), None, render=RENDER))
    handle.step()
    wait_for(lambda: handle.heartbeat() or handle.snapshot().visuals_step == 1, what="the visuals of step 1")
    v = handle.snapshot().visuals
    made = {k[len(PNG):]: v[k].tobytes() for k in v if k.startswith(PNG)}
    assert set(made) == {"density", "samples", "stage_densities", "stages", "log_det"}
    assert made == flow.pictures(v, load_dataset("moons", 0), small())
    handle.close()


def test_killing_a_host_resumes_its_runs_elsewhere_from_their_last_state(pool):
    handles = [RunHandle(pool, spec_for(small(), None)) for _ in range(3)]
    for h in handles:
        h.start()

    def all_saved() -> bool:
        for h in handles:
            h.heartbeat()
        return all(h._state is not None and h._state.step > 0 for h in handles)

    wait_for(all_saved, what="a state from every run")
    doomed = handles[0].link
    on_it = [h for h in handles if h.link is doomed]
    before = {h.id: h.snapshot().step for h in on_it}
    doomed.host.process.kill()
    for h in on_it:
        wait_for(lambda h=h: h.heartbeat() or h.link is not doomed and h.snapshot().message.startswith("resumed"),
                 what="the run to resume")
        saved = int(re.match(r"resumed from step (\d+)", h.snapshot().message).group(1))
        assert saved > 0  # from a state it had sent, not from scratch
        wait_for(lambda h=h: h.heartbeat() or h.snapshot().step > before[h.id], what="training to go on")
        assert h.snapshot().status in ("running", "queued")
    assert doomed not in pool._links
    wait_for(lambda: pool.hosts == 2, what="the replacement host")
    for h in handles:
        h.close()


def test_a_session_that_ends_closes_its_run_on_the_host(pool):
    """Streamlit drops an ended session's state; the handle goes with it, and its run is closed."""
    handle = RunHandle(pool, spec_for(small(), None))
    host, run_id = handle.link.host, handle.id
    assert run_id in host.call("ready")["runs"]
    del handle
    gc.collect()
    wait_for(lambda: run_id not in host.call("ready")["runs"], what="the run to close")


def test_without_a_ray_address_nothing_of_ray_is_imported():
    code = ("import sys; from genmodels.hosting import handle, host, pool, processes; "
            "assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1], timeout=120)


def test_a_host_holds_one_copy_of_data_the_same_for_every_seed(tmp_path):
    """Named data are loaded by the host from the spec's data_dir; full MNIST (files, not seeded) once for all
    seeds, a toy set once per seed."""
    fake_mnist(tmp_path)
    mnist = [RunSpec(Setup.from_query({"data": "mnist", "seed": str(s)}), data_dir=str(tmp_path)).dataset()
             for s in (1, 2)]
    moons = [RunSpec(Setup.from_query({"data": "moons", "seed": str(s)})).dataset() for s in (1, 2)]
    assert mnist[0] is mnist[1] and mnist[0].name == "mnist"
    assert moons[0] is not moons[1] and not np.array_equal(moons[0].train, moons[1].train)
