"""The command line: list, train (text and --json), checkpoints, and one-line errors for bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from genmodels import checkpoint
from genmodels.cli import main
from genmodels.data import DATASETS
from genmodels.models import MODELS

ROOT = Path(__file__).resolve().parents[1]


def test_list_prints_name_and_kind_per_line(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "moons dataset-2d" in lines and "digits dataset-image" in lines and "realnvp flow" in lines
    assert len(lines) == len(DATASETS) + len(MODELS)


def test_train_json_reports_metrics_and_saves_a_checkpoint(tmp_path, train_json):
    out = tmp_path / "run.safetensors"
    result = train_json("--data", "moons", "--model", "realnvp", "--steps", "30", "--seed", "1",
                        "--layers", "2", "--hidden", "16", "--out", str(out))
    assert result["model"] == "realnvp" and result["data"] == "moons" and result["steps"] == 30
    assert 0 < result["test_nll"] < 10
    model, setup, step, _ = checkpoint.load(str(out))
    assert step == 30 and setup.train.seed == 1 and setup.model_config.layers == 2


def test_train_text_ends_with_test_nll(capsys):
    assert main(["train", "--steps", "5", "--layers", "1", "--hidden", "8"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("test_nll ")


def test_train_on_a_csv_path(tmp_path, train_json):
    csv = tmp_path / "points.csv"
    csv.write_text("x,y\n" + "\n".join(f"{i % 7},{i % 5}" for i in range(50)))
    assert train_json("--data", str(csv), "--steps", "5", "--layers", "1")["data"] == str(csv)


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--model", "nope"], "unknown model 'nope'"),
        (["train", "--data", "nope"], "unknown dataset 'nope'"),
        (["train", "--data", "missing.csv"], "cannot read CSV file"),
        (["train", "--lr", "1e9"], "outside the allowed range"),
        (["train", "--layrs", "4"], "unknown setting 'layrs'"),
        (["train", "--layers"], "--layers needs a value"),
        (["train", "--device", "tpu"], "device"),
        (["train", "--data", "mnist"], "GENMODELS_DATA"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GENMODELS_DATA", str(tmp_path))
    assert main(args + ["--steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04not a safetensors file")
    with pytest.raises(Exception, match="not a readable safetensors checkpoint"):
        checkpoint.load(str(bad))


def test_module_entry_point_runs_without_a_browser():
    proc = subprocess.run([sys.executable, "-m", "genmodels", "train", "--steps", "3", "--layers", "1", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "test_nll" in json.loads(proc.stdout.strip().splitlines()[-1])
