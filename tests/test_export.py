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
    model, setup, loaded_step, _ = checkpoint.load(str(path))
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
    setup, (same, weights, loaded_step, _) = read_checkpoint(checkpoint.to_bytes(state, SETUP, step), "run.safetensors")
    assert setup == same == SETUP and loaded_step == 10
    assert all(torch.equal(weights[k], v) for k, v in state.items())
    with pytest.raises(UserError, match="the file is not a readable safetensors checkpoint"):
        read_checkpoint(b"\x80\x04pickle?", "evil.safetensors")


def recorded(history, first_step: int, blocks: list[int], seed: int) -> int:
    """Record blocks of two curves' values (the sizes given) into `history`; the next step."""
    rng = np.random.default_rng(seed)
    for size in blocks:
        history.add(first_step, ["loss", "kl"], rng.normal(size=(size, 2)))
        first_step += size
    return first_step


def test_a_restored_history_equals_the_original_and_goes_on_as_if_never_saved():
    from genmodels.training.history import History

    original = History(capacity=8)
    step = recorded(original, 1, [3, 7, 5, 6], seed=0) - 1  # 21 steps: merged twice, a partial point pending
    restored = History.from_state(original.state(), step, capacity=8)
    assert restored == original and original.curves["loss"].stride == 4
    for h in (original, restored):
        recorded(h, step + 1, [9, 2, 30], seed=1)
    assert restored == original
    kept, back = original.arrays(), restored.arrays()
    assert kept.keys() == back.keys() and all(np.array_equal(kept[k], back[k]) for k in kept)


def test_a_saved_run_loads_back_with_its_whole_loss_history():
    trainer = trained()
    state, step, history = trainer.checkpoint()
    setup, (_, weights, loaded_step, loaded) = read_back(checkpoint.to_bytes(state, SETUP, step, history))
    assert loaded == history == trainer.training.history and len(history.curves["loss"].steps) == 10
    data = trainer.data
    fresh = Trainer(lambda: SETUP.build_model(data), data, SETUP.train, device="cpu", visual_interval=None)
    fresh.load_weights(weights, loaded_step, loaded)
    shown, kept = fresh.snapshot().history, trainer.snapshot().history
    assert shown.keys() == kept.keys() and all(np.array_equal(shown[k], kept[k]) for k in kept)


def read_back(content: bytes):
    from playground.downloads import read_checkpoint

    return read_checkpoint(content, "run.safetensors")


@pytest.mark.parametrize("edit", [
    lambda s: s.update({"loss/means": np.full_like(s["loss/means"], np.nan)}),
    lambda s: s.update({"loss/steps": s["loss/steps"] + 100}),  # steps after the run's step
    lambda s: s.update({"loss/tail": s["loss/tail"] * [1, 3, 1, 1, 1]}),  # a stride of 3
    lambda s: s.update({"loss/steps": s["loss/steps"].astype(np.float32)}),
    lambda s: s.pop("loss/tail"),
    lambda s: s.update({"x" * 500 + "/steps": s["loss/steps"].copy()}),
], ids=["nan", "future steps", "stride 3", "float steps", "no tail", "long name"])
def test_a_tampered_loss_history_is_refused(edit):
    trainer = trained()
    state, step, history = trainer.checkpoint()
    tensors = history.state()
    edit(tensors)
    content = checkpoint.to_bytes(state, SETUP, step)
    from safetensors.torch import load, save

    stored = load(content)
    stored.update({checkpoint.HISTORY + k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()})
    with pytest.raises(UserError, match="the file: its loss history"):
        read_back(save(stored, metadata={"genmodels": "1", "setup": json.dumps(SETUP.to_query()), "step": str(step)}))
