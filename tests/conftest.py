"""Shared test set-up: one torch thread (tests run beside each other on small CPUs), fixed seeds."""

import sys
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
torch.set_num_threads(1)

# Fuzzing (tests/test_fuzz.py): `make test` runs a small, derandomised budget; `make fuzz` a long random one
# (`--hypothesis-profile=fuzz`). The deadlines bound each call, generously for a loaded 2-core machine.
settings.register_profile("suite", max_examples=50, deadline=timedelta(seconds=5), derandomize=True, database=None)
settings.register_profile("fuzz", max_examples=2000, deadline=timedelta(seconds=2), print_blob=True)
settings.load_profile("suite")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
