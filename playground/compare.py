"""Compare: runs B (and C) beside the sidebar's run A, on the same data, trained together.

The sidebar's "compare" section picks each extra run's model and settings (widget
keys "B.model", "B.<model>.<field>", "B.train.<field>"); the page then shows one
set of controls for all runs, their curves on one chart, a column per run (samples,
and the density where exact), and below them every figure of one chosen run.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from genmodels.data import Dataset
from genmodels.models import MODELS
from genmodels.setup import Setup
from genmodels.training.snapshot import Snapshot

from . import history, memo, widgets
from .controls import controls, status_line
from .live import losses
from .pace import keep_time, live_period
from .pictures import common
from .session import Run, close_run, run_for
from .views import VIEWS

LETTERS = ("B", "C")
ON, COUNT = "compare.on", "compare.count"


def set_runs(setups: list[Setup]) -> None:
    """Show these setups as runs B, C (from a preset or a share URL); none switches comparing off."""
    st.session_state[ON] = bool(setups)
    if setups:
        st.session_state[COUNT] = len(setups)
    for letter, setup in zip(LETTERS, setups):
        st.session_state.update(widgets.setup_state(setup, f"{letter}."))


def sidebar(base: Setup) -> list[Setup]:
    """The setups compared with `base` (the sidebar's run): none unless comparing."""
    with st.sidebar, st.expander("compare runs", expanded=st.session_state.get(ON, False)):
        if not st.toggle("compare with other runs", key=ON, help="train runs side by side on the same data"):
            return []
        st.session_state.setdefault(COUNT, 1)
        count = st.number_input("runs besides A", 1, len(LETTERS), key=COUNT)
        return [run_widgets(letter, base) for letter in LETTERS[:count]]


def run_widgets(letter: str, base: Setup) -> Setup:
    st.markdown(f"**run {letter}** (same data as A)")
    st.session_state.setdefault(f"{letter}.model", base.model)
    model = st.selectbox(f"model {letter}", list(MODELS), key=f"{letter}.model",
                         format_func=lambda n: f"{n} ({MODELS[n].family})")
    current = base.model_config if model == base.model else MODELS[model].Config()
    model_config = widgets.config_widgets(MODELS[model].Config, current, f"{letter}.{model}.")
    train = widgets.train_widgets(MODELS[model], base.train, f"{letter}.train.")
    return Setup(base.data, model, model_config, train)


def runs_for(setups: list[Setup], data: Dataset) -> list[Run]:
    """One run per compared setup (kept while its setup is unchanged); runs no longer compared are closed."""
    for letter in LETTERS[len(setups):]:
        close_run(f"run.{letter}")
    return [run_for(setup, data, slot=f"run.{letter}") for letter, setup in zip(LETTERS, setups)]


def labels(runs: list[Run]) -> list[str]:
    return [f"{letter}: {run.setup.model}" for letter, run in zip("A" + "".join(LETTERS), runs)]


def show(runs: list[Run], names: list[str]) -> None:
    """Controls for all runs, then the live panel: one chart of every curve, a column per run."""
    controls([r.trainer for r in runs])
    fast = any(r.trainer.active for r in runs)
    period = live_period(fast)

    @st.fragment(run_every=period)
    def panel() -> None:
        for r in runs:
            r.trainer.heartbeat()
        snaps = [r.trainer.snapshot() for r in runs]
        keep_time(fast, any(r.trainer.active for r in runs), period)
        losses(merged_history(snaps, names), "compare.loss")
        for i, (column, run, snap, name) in enumerate(zip(st.columns(len(runs)), runs, snaps, names)):
            with column:
                status_line(snap, name)
                draw_run(snap, run.data, f"compare.{i}")
        # A family's own figures, for one run at a time (two views at once would share widget keys).
        i = st.radio("all figures of", range(len(runs)), format_func=names.__getitem__, horizontal=True,
                     key="compare.detail")
        run = runs[i]
        VIEWS[MODELS[run.setup.model].family](history.replay(snaps[i], run.trainer.active), run.data, run.setup)

    panel()


def merged_history(snaps: list[Snapshot], names: list[str]) -> dict:
    """Every run's curves in one dict, named 'run · curve'."""
    return {f"{name} · {k}": v for snap, name in zip(snaps, names) for k, v in snap.history.items()}


def draw_run(snap: Snapshot, data: Dataset, key: str) -> None:
    """What every family shows: samples (over the data), and the model density where it is exact."""
    v = snap.visuals
    if "samples" not in v:
        return
    if data.is_image:
        memo.image(st, f"{key}.samples", v, lambda: common.grey_tiles(v["samples"][:40], data.shape, columns=8),
                   "samples")
        return
    memo.image(st, f"{key}.samples", v, lambda: common.samples_vs_data(v["samples"], data.test, v).png(),
               "samples (red) vs data (blue)")
    if "log_density" in v:
        memo.image(st, f"{key}.density", v, lambda: common.density(np.exp(v["log_density"]), v, data.test).png(),
                   "model density, data in white")
