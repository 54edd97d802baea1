"""Export: the standalone script reproduces the run; checkpoints and config JSON round-trip."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genmodels import checkpoint
from genmodels.cli import train_setup
from genmodels.data import load_csv
from genmodels.errors import UserError
from genmodels.evaluation.metrics import evaluate
from genmodels.hosting.trainer import Trainer
from genmodels.lecture.export import script
from genmodels.setup import Setup

ROOT = Path(__file__).resolve().parents[1]
SETUP = Setup.from_query({"data": "moons", "model": "realnvp", "layers": "2", "hidden": "16", "depth": "1",
                          "steps": "25", "batch_size": "64", "lr": "0.003", "seed": "3"})


def run_script(source: str, folder: Path) -> dict:
    path = folder / "run.py"
    path.write_text(source)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(path)], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_script_reproduces_the_trainer_run(tmp_path):
    out = run_script(script(SETUP, title="tiny RealNVP"), tmp_path)
    assert Setup.from_query(out["setup"]) == SETUP and out["steps"] == 25
    expected = train_setup(SETUP, "cpu")  # the CLI's Trainer run of the same setup
    assert out["test_nll"] == pytest.approx(expected["test_nll"], rel=1e-5)
    samples = np.loadtxt(tmp_path / "samples.csv", delimiter=",")
    assert samples.shape == (1000, 2) and np.isfinite(samples).all()


def test_script_embeds_the_users_csv_points(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    csv_text = "x,y\n" + "\n".join(f"{a:.5f},{b:.5f}" for a, b in rng.normal(size=(200, 2)) * [1, 3])
    setup = SETUP.replace(data="csv")
    (tmp_path / "run.py").write_text(script(setup, csv_text=csv_text))
    monkeypatch.chdir(tmp_path)
    runpy.run_path("run.py", run_name="__main__")  # in-process: the subprocess test above covers standalone
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["setup"]["data"] == "csv"
    data = load_csv(csv_text)
    trainer = Trainer(lambda: setup.build_model(data), data, setup.train, device="cpu", visual_interval=None)
    trainer.run(setup.train.steps)
    assert out["test_nll"] == pytest.approx(evaluate(trainer.model, data)["test_nll"], rel=1e-5)


def trained() -> Trainer:
    data = SETUP.load_data()
    trainer = Trainer(lambda: SETUP.build_model(data), data, SETUP.train, device="cpu", visual_interval=None)
    trainer.run(10)
    return trainer


def test_checkpoint_bytes_load_back_with_the_same_weights_setup_and_step(tmp_path):
    trainer = trained()
    state, step = trainer.weights()
    path = tmp_path / "run.safetensors"
    path.write_bytes(checkpoint.to_bytes(state, SETUP, step))
    model, setup, loaded_step = checkpoint.load(str(path))
    assert setup == SETUP and loaded_step == step == 10
    x = torch.as_tensor(trainer.data.test[:50])
    assert torch.equal(model.log_prob(x), trainer.model.log_prob(x))


def test_loaded_weights_continue_in_a_fresh_trainer():
    trainer = trained()
    state, step = trainer.weights()
    data = trainer.data
    fresh = Trainer(lambda: SETUP.build_model(data), data, SETUP.train, device="cpu", visual_interval=None)
    fresh.load_weights(state, step)
    x = torch.as_tensor(data.test[:50])
    assert torch.equal(fresh.model.log_prob(x), trainer.model.log_prob(x))
    assert fresh.snapshot().step == 10 and fresh.snapshot().status == "paused"
    wrong = {k: v[..., :1] if v.ndim else v for k, v in state.items()}
    with pytest.raises(UserError, match="do not fit"):
        fresh.load_weights(wrong, 3)


def test_config_json_round_trip_and_bad_files():
    assert checkpoint.setup_from_json(checkpoint.config_json(SETUP, 7)) == SETUP
    for bad in (b"\xff\xfe", "[1, 2]", '{"setup": {"model": "realnvp"}}', "not json"):
        with pytest.raises(UserError):
            checkpoint.setup_from_json(bad)
    with pytest.raises(UserError, match="layers"):
        checkpoint.setup_from_json('{"genmodels": 1, "setup": {"model": "realnvp", "layers": "1e9"}}')


def test_timeline_gif_has_one_frame_per_stored_frame():
    import imageio.v3 as iio

    from playground.downloads import timeline_gif

    data = SETUP.load_data()
    trainer = Trainer(lambda: SETUP.build_model(data), data, SETUP.train, device="cpu", visual_interval=0.0)
    for _ in range(3):
        trainer.run(2)
    frames = trainer.snapshot().timeline
    gif = iio.imread(timeline_gif(frames, data), extension=".gif", index=None)
    assert len(frames) >= 2 and gif.shape[0] == len(frames)


def test_app_reads_a_checkpoint_upload_and_rejects_a_foreign_file():
    from playground.downloads import read_checkpoint

    trainer = trained()
    state, step = trainer.weights()
    setup, (same, weights, loaded_step) = read_checkpoint(checkpoint.to_bytes(state, SETUP, step), "run.safetensors")
    assert setup == same == SETUP and loaded_step == 10
    assert all(torch.equal(weights[k], v) for k, v in state.items())
    with pytest.raises(UserError, match="the file is not a readable safetensors checkpoint"):
        read_checkpoint(b"\x80\x04pickle?", "evil.safetensors")
