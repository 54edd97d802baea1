"""Shared test set-up: one torch thread (tests run beside each other on small CPUs), fixed seeds."""

import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
torch.set_num_threads(1)
# The app's runs train on host processes, one per core by default: two here on any machine (a 64-core
# CI runner would otherwise start 64 interpreters with torch for the app tests).
os.environ.setdefault("GENMODELS_HOSTS", "2")

# Fuzzing (tests/test_fuzz.py): `make test` runs a small, derandomised budget; `make fuzz` a long random one
# (`--hypothesis-profile=fuzz`). The deadlines bound each call, generously for a loaded 2-core machine.
settings.register_profile("suite", max_examples=50, deadline=timedelta(seconds=5), derandomize=True, database=None)
settings.register_profile("fuzz", max_examples=2000, deadline=timedelta(seconds=2), print_blob=True)
settings.load_profile("suite")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def train_json(capsys):
    """`train_json(*flags)`: `python -m genmodels train <flags> --json` in-process; the metrics, which must be all
    it printed."""
    from genmodels import cli

    def train(*flags: str) -> dict:
        assert cli.main(["train", *flags, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    return train


@pytest.fixture
def bench_one_table(tmp_path, monkeypatch):
    """`bench_one_table(table, run, flag, records)`: `python -m genmodels bench <flag> --quick` in-process, the
    function `run` of the module `table` answering `records`, on a markdown file with a speed section. Checks
    that it asked for `table.QUICK`, kept that section and added one, its own; returns the file's new text."""
    from genmodels import cli

    def bench(table, run: str, flag: str, records: list[dict]) -> str:
        budgets = []
        monkeypatch.setattr(table, run, lambda budget, log: budgets.append(budget) or records)
        md = tmp_path / "B.md"
        md.write_text("# Benchmarks\n\n## Training speed\n\nkept\n")
        assert cli.main(["bench", flag, "--quick", "--markdown", str(md)]) == 0
        text = md.read_text()
        assert budgets == [table.QUICK] and "kept" in text and text.count("\n## ") == 2
        return text

    return bench


@pytest.fixture
def open_app():
    """AppTest pages opened at a share URL (`open_app(data="moons", ...)`); their runs are closed after the test."""
    from streamlit.testing.v1 import AppTest

    app = str(Path(__file__).resolve().parents[1] / "playground" / "app.py")
    pages = []

    def make(**query):
        at = AppTest.from_file(app, default_timeout=120)
        for k, v in query.items():
            at.query_params[k] = v
        pages.append(at)
        return at

    yield make
    for at in pages:
        if "run" in at.session_state:
            at.session_state["run"].trainer.close()
