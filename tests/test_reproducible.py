"""The same setup gives the same run: alone or beside others, in blocks of any length, on any machine.

History is recorded by step and every draw comes from the run's own generators, so these
compare bit for bit, never with a tolerance.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from genmodels.data import load_dataset
from genmodels.hosting.trainer import Trainer
from genmodels.models import MODELS
from genmodels.setup import Setup
from genmodels.training.history import Curve, History
from genmodels.training.loop import Training
from genmodels.training.rng import RANDOM_OPS

SMALL = {"realnvp": {"layers": "2", "hidden": "16"}, "vae": {"hidden": "16"},
         "gan": {"g_hidden": "16", "d_hidden": "16"}, "wgan-gp": {"g_hidden": "16", "d_hidden": "16"}}


def setup_for(model: str, data: str = "moons", seed: int = 0, **settings) -> Setup:
    return Setup.from_query({"data": data, "model": model, "seed": str(seed), "batch_size": "64",
                             **SMALL.get(model, {}), **settings})


def training(setup: Setup) -> Training:
    data = load_dataset(setup.data, setup.train.seed)
    return Training(lambda: setup.build_model(data), data, setup.train, device="cpu")


def assert_same_run(a: Training | Trainer, b: Training | Trainer) -> None:
    wa, wb = a.training.weights() if isinstance(a, Trainer) else a.weights(), \
        b.training.weights() if isinstance(b, Trainer) else b.weights()
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    ha, hb = a.snapshot().history, b.snapshot().history
    assert ha.keys() == hb.keys() and ha
    for k in ha:
        np.testing.assert_array_equal(ha[k], hb[k])


@pytest.mark.parametrize("model", ["realnvp", "vae", "gan", "wgan-gp"])
def test_the_history_and_weights_do_not_depend_on_how_the_steps_were_split(model):
    """Blocks of 1, 7 and 60 steps (a slow machine, an odd one, a fast one) record the same run."""
    runs = [training(setup_for(model)) for _ in range(3)]
    for run, block in zip(runs, (1, 7, 60)):
        run.run(60, block=block)
    assert runs[0].step == 60
    assert_same_run(runs[0], runs[1])
    assert_same_run(runs[0], runs[2])


@pytest.mark.parametrize("chunk_seconds", [0.0, 10.0])
def test_a_background_run_records_what_a_synchronous_one_does_whatever_the_chunk_length(chunk_seconds):
    setup = setup_for("vae", steps="40")
    data = load_dataset(setup.data, setup.train.seed)
    hosted = Trainer(lambda: setup.build_model(data), data, setup.train, device="cpu", visual_interval=None,
                     chunk_seconds=chunk_seconds)
    hosted.start()
    assert wait_until(lambda: hosted.snapshot().status == "done")
    alone = training(setup)
    alone.run(40)
    assert_same_run(hosted, alone)
    hosted.close()


def wait_until(predicate, timeout=60.0) -> bool:
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return True
        done.wait(0.02)
    return False


def test_two_runs_trained_at_once_in_two_threads_equal_the_same_runs_trained_alone():
    """Two sessions' runs interleave their steps; neither may see the other's random draws."""
    setups = [setup_for("gan", seed=1, steps="80"), setup_for("vae", seed=2, steps="80")]
    together = [training(s) for s in setups]
    threads = [threading.Thread(target=t.run, args=(80,), kwargs={"block": 1}) for t in together]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for run, setup in zip(together, setups):
        alone = training(setup)
        alone.run(80)
        assert_same_run(run, alone)


def test_a_seed_changes_the_run_and_the_same_seed_repeats_it():
    a, b, c = (training(setup_for("realnvp", seed=s)) for s in (0, 0, 1))
    for t in (a, b, c):
        t.run(20)
    assert_same_run(a, b)
    assert not torch.equal(a.weights()["transforms.0.net.0.weight"], c.weights()["transforms.0.net.0.weight"])


class NoGlobalDraws(TorchFunctionMode):
    """Fails any random op that would draw from torch's global generator."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in RANDOM_OPS and kwargs.get("generator") is None:
            raise AssertionError(f"{func.__name__} drew from the global generator")
        return func(*args, **kwargs)


@pytest.mark.parametrize("model", list(MODELS))
def test_no_model_draws_from_the_global_generator_while_training_or_drawing(model):
    """Every draw of a run (batches, noise, ε, dequantisation, reverse-KL base samples, visuals) has a
    generator; building the model is the one place where torch's layers take theirs from `building_with`."""
    data = "digits" if model == "glow" else "moons"
    settings = {"objective": "reverse_kl", "target": "U1"} if model in ("planar", "radial") else {}
    setup = setup_for(model, data=data, **{**SMALL.get(model, {}), **settings})
    run = training(setup)
    with NoGlobalDraws():
        run.run(3)
        run.visuals()


def test_curves_record_every_step_then_halve_deterministically():
    curve = Curve(capacity=8)
    values = np.arange(1, 21, dtype=float)
    curve.add(np.arange(1, 21), values)
    rows = curve.array()
    assert curve.stride == 4 and len(rows) <= 8
    np.testing.assert_array_equal(rows[:, 0], [4, 8, 12, 16, 20])
    np.testing.assert_allclose(rows[:, 1], values.reshape(5, 4).mean(1))  # each point the mean of its steps
    split = Curve(capacity=8)
    for lo, hi in [(1, 4), (4, 5), (5, 21)]:
        split.add(np.arange(lo, hi), values[lo - 1:hi - 1])
    np.testing.assert_array_equal(split.array(), rows)


def test_a_partial_point_shows_the_steps_since_the_last_full_one():
    history = History(capacity=4)
    history.add(1, ["loss"], np.arange(1.0, 7.0)[:, None])  # steps 1..6: stride 2 after the merge at 4 points
    np.testing.assert_allclose(history.arrays()["loss"], [[2, 1.5], [4, 3.5], [6, 5.5]])
    history.add(7, ["loss"], np.array([[7.0]]))
    np.testing.assert_allclose(history.arrays()["loss"][-1], [7, 7.0])


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_importing_the_library_changes_no_process_wide_state():
    code = ("import torch; threads = torch.get_num_threads(); limit = torch._dynamo.config.recompile_limit\n"
            "import genmodels.hosting.trainer, genmodels.cli, genmodels.training.compiled, genmodels.hosting.limiter\n"
            "assert torch.get_num_threads() == threads, 'threads changed'\n"
            "assert torch._dynamo.config.recompile_limit == limit, 'dynamo changed'\n")
    result = run_python(code, GENMODELS_THREADS="lots", GENMODELS_MAX_TRAINERS="-3")  # malformed, not read yet
    assert result.returncode == 0, result.stderr


def test_a_malformed_setting_is_named_when_it_is_read():
    from genmodels.errors import UserError
    from genmodels.hosting.limits import Limits

    with pytest.raises(UserError, match="GENMODELS_THREADS"):
        Limits.from_env({"GENMODELS_THREADS": "lots"})
    with pytest.raises(UserError, match="GENMODELS_CHUNK_SECONDS"):
        Limits.from_env({"GENMODELS_CHUNK_SECONDS": "-1"})
    assert Limits.from_env({"GENMODELS_CHUNK_SECONDS": "10", "GENMODELS_THREADS": "2"}).chunk_seconds == 10


def test_a_share_url_opened_in_a_second_session_reproduces_the_loss_curve_exactly():
    """Two sessions (two browsers) open the same share URL and train at the same time: same curve, bit for bit."""
    from pathlib import Path

    from app_helpers import wait_until as rerun_until
    from streamlit.testing.v1 import AppTest

    app = str(Path(__file__).resolve().parents[1] / "playground" / "app.py")
    url = {"data": "moons", "model": "realnvp", "layers": "2", "hidden": "16", "steps": "60", "seed": "3"}
    pages = [AppTest.from_file(app, default_timeout=120) for _ in range(2)]
    for page in pages:
        page.query_params.update(url)
        page.run()
        page.button(key="train").click().run()
    try:
        for page in pages:
            rerun_until(page, lambda p=page: p.session_state["run"].trainer.snapshot().status == "done")
        first, second = (p.session_state["run"].trainer.snapshot().history for p in pages)
        assert first.keys() == second.keys() and len(first["loss"]) == 60
        for name in first:
            np.testing.assert_array_equal(first[name], second[name])
    finally:
        for page in pages:
            page.session_state["run"].trainer.close()


@pytest.mark.parametrize("stop", [{"stop_when": "loss < 3.2"}, {"patience": "100"}])
def test_a_run_stops_at_the_same_step_however_its_steps_were_split(stop):
    """Stop conditions are checked every 10 steps, never at block ends: blocks of 1, 7 and 1000 steps agree."""
    runs = [training(setup_for("realnvp", steps="3000", **stop)) for _ in range(3)]
    for run, block in zip(runs, (1, 7, 1000)):
        run.run(3000, block=block)
    assert runs[0].status == "done" and runs[0].step % 10 == 0 and runs[0].step < 3000, runs[0].message
    assert {(r.step, r.message) for r in runs} == {(runs[0].step, runs[0].message)}
