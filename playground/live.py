"""The live panel: a fragment that redraws the run's latest snapshot on a browser-side timer.

`draw` is one tick of it (the status line, the loss curves, the family's view); the
benchmark (`playground.bench`) calls the same function to measure what an open page costs.
"""

from __future__ import annotations

import time

import streamlit as st

from genmodels.models import MODELS

from . import figures, history, memo
from .controls import status_line
from .pace import PACE, keep_time, live_period
from .session import Run
from .views import BESIDE, VIEWS


def panel(run: Run) -> None:
    """Redraw every refresh while training (less often on a busy server: `pace`), every 2 s otherwise
    (Train/Pause rerun the page to switch); below it what the family draws beside the live views (once
    per page run)."""
    fast = run.trainer.active
    period = live_period(fast)

    @st.fragment(run_every=period)
    def tick() -> None:
        keep_time(fast, run.trainer.active, period)
        draw(run)

    tick()
    if beside := BESIDE.get(MODELS[run.setup.model].family):
        beside(run.data)


def draw(run: Run) -> None:
    """One refresh: a heartbeat (the tab is open), then the latest snapshot's status, curves and figures.
    The snapshot is in memory (the pool keeps it fresh): a refresh never waits for the run's host. Charts and
    pictures are built once per history and visuals (`memo`): a page whose run has no news sends them as
    they were."""
    start, t = time.thread_time(), run.trainer
    t.heartbeat()
    snap = t.snapshot()
    status_line(snap)
    losses(snap.history, "loss")
    VIEWS[MODELS[run.setup.model].family](history.replay(snap, t.active), run.data, run.setup)
    PACE.record(str(id(t)), time.thread_time() - start)


def losses(history: dict, key: str) -> None:
    """The loss curves (built once per history: `memo`), or before the first logged step a line that says
    when they start, not an empty frame."""
    if not any(len(h) for h in history.values()):
        st.caption("The loss curves start at the first step.")
        return
    st.vega_lite_chart(memo.get(key, history, lambda: figures.loss_chart(history)), key=key)
