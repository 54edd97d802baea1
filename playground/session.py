"""Per-session run state: one Trainer per browser session, replaced when the setup changes.

Datasets are process-wide (`st.cache_resource`: read-only arrays shared by all
sessions). The trainer lives in `st.session_state`; its worker thread stops by
itself when the page's fragment stops sending heartbeats (a closed tab).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st
import torch

from genmodels.data import Dataset, load_dataset
from genmodels.setup import Setup
from genmodels.train import Trainer

IDLE_TIMEOUT = float(os.environ.get("GENMODELS_IDLE_TIMEOUT", "60"))
# Sessions train in parallel threads; one torch thread each avoids oversubscribing the cores.
torch.set_num_threads(int(os.environ.get("GENMODELS_TORCH_THREADS", "1")))


@st.cache_resource(show_spinner="loading data…", max_entries=32)
def shared_dataset(name: str, seed: int) -> Dataset:
    return load_dataset(name, seed)


@dataclass
class Run:
    setup: Setup
    data: Dataset
    trainer: Trainer


def run_for(setup: Setup, data: Dataset) -> Run:
    """This session's run for `setup`; a new setup closes the old run and starts a fresh one."""
    run: Run | None = st.session_state.get("run")
    if run is not None and run.setup == setup and run.data is data and run.trainer.model is not None:
        return run
    if run is not None:
        run.trainer.close()
    trainer = Trainer(lambda: setup.build_model(data), data, setup.train, idle_timeout=IDLE_TIMEOUT)
    st.session_state.run = Run(setup, data, trainer)
    return st.session_state.run
