"""Per-session run state: one run per browser session, replaced when the setup changes.

Datasets are process-wide (`st.cache_resource`: read-only arrays shared by all sessions). A run
trains on a host (a worker process, or a Ray actor): the session keeps its `RunHandle`, whose
snapshot the pool keeps fresh. Its run pauses when the page's fragment stops sending heartbeats
(a closed tab), closes later, and closes at once when the session ends and the handle goes.
"""

from __future__ import annotations

import functools
import gc
from dataclasses import dataclass

import streamlit as st

from genmodels.data import Dataset, load_dataset
from genmodels.hosting.handle import RunHandle
from genmodels.hosting.limits import Limits
from genmodels.hosting.pool import Pool, shared_pool, spec_for
from genmodels.setup import Setup, default_setup

from .pictures import RENDER


@functools.cache
def limits() -> Limits:
    """The app's caps: GENMODELS_* environment variables, else these defaults (README, "Deploy for your class").

    Read once, on first use (a malformed variable is a UserError that names it); importing changes nothing.
    """
    return Limits.from_env(max_params=20_000_000, idle_timeout=20.0, drop_timeout=600.0)


@functools.cache
def freeze_imports() -> None:
    """Once per server: what is loaded by now (torch, streamlit: some 330,000 objects that live as long as
    the process) leaves the garbage collector's reach. A full collection walked them all, 0.2 s with the
    interpreter lock held, eleven times in a minute of a 50-session load test."""
    gc.freeze()


@st.cache_resource(show_spinner="loading data…", max_entries=32)
def shared_dataset(name: str, seed: int) -> Dataset:
    return load_dataset(name, seed)


@dataclass
class Run:
    setup: Setup
    data: Dataset
    trainer: RunHandle


def run_for(setup: Setup, data: Dataset, slot: str = "run") -> Run:
    """This session's run for `setup` in `slot` (a comparison has several); a new setup replaces the old run."""
    run: Run | None = st.session_state.get(slot)
    if run is not None and run.setup == setup and run.data is data and not run.trainer.closed:
        return run
    limits().check(setup, data)  # before closing the current run: a rejected setup leaves it intact
    if run is not None and run.trainer.closed and run.setup == setup:  # closed (e.g. an idle tab)
        st.info(f"{run.trainer.snapshot().message}. This is a fresh run of the same setup, from step 0.")
    if run is not None:
        run.trainer.close()
    st.session_state[slot] = Run(setup, data, new_trainer(setup, data))
    return st.session_state[slot]


def new_trainer(setup: Setup, data: Dataset) -> RunHandle:
    """The app's run, on the least busy host: visuals at most once per page refresh, and their pictures
    drawn there (`pictures.render`); paused, then closed, without heartbeats."""
    caps = limits()
    spec = spec_for(setup, data, visual_interval=caps.refresh, idle_timeout=caps.idle_timeout,
                    drop_timeout=caps.drop_timeout, render=RENDER)
    return RunHandle(warm_pool(), spec)


@functools.cache
def warm_pool() -> Pool:
    """The hosts' pool, each host warmed with a run of the default setup as the app opens it."""
    pool = shared_pool()
    setup = default_setup()
    pool.warm(spec_for(setup, None, visual_interval=limits().refresh, render=RENDER))
    return pool


def close_run(slot: str) -> None:
    """Close and forget the run in `slot`, if any (a comparison switched off)."""
    run: Run | None = st.session_state.pop(slot, None)
    if run is not None:
        run.trainer.close()
