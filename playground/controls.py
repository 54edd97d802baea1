"""Training controls and the status line, for one run or several trained side by side.

Each button drives every trainer of the page at once (a comparison starts together),
and each has a keyboard shortcut for lecturing without the mouse.
"""

from __future__ import annotations

import streamlit as st

from genmodels.hosting.handle import RunHandle
from genmodels.hosting.limits import Limits
from genmodels.hosting.pool import shared_pool
from genmodels.training.snapshot import Snapshot

from .session import limits

SHORTCUTS = {"train": "T", "pause": "P", "step": "S", "stop": "X", "reset": "Home"}
ENDED = ("diverged", "done", "closed")


def controls(trainers: list[RunHandle]) -> None:
    statuses = {t.snapshot().status for t in trainers}

    def each(method: str):
        return lambda: [getattr(t, method)() for t in trainers]

    resumable = statuses & {"paused", "stopped"}
    cols = st.columns(5)
    cols[0].button("Resume" if resumable else "Train", key="train", on_click=each("start"), type="primary",
                   disabled=statuses <= set(ENDED), use_container_width=True, shortcut=SHORTCUTS["train"])
    cols[1].button("Pause", key="pause", on_click=each("pause"), use_container_width=True,
                   shortcut=SHORTCUTS["pause"])
    cols[2].button("Step", key="step", on_click=each("step"), use_container_width=True, help="one optimiser round",
                   shortcut=SHORTCUTS["step"])
    cols[3].button("Stop", key="stop", on_click=each("stop"), use_container_width=True, shortcut=SHORTCUTS["stop"])
    cols[4].button("Reset", key="reset", on_click=each("reset"), use_container_width=True,
                   help="fresh weights, same seed", shortcut=SHORTCUTS["reset"])
    phase_buttons(trainers)


def phase_buttons(trainers: list[RunHandle]) -> None:
    """Step D / Step G for models with several optimisers: one phase alone, to watch the alternation."""
    several = [t for t in trainers if not t.closed and len(t.phases) > 1]
    phases = list(dict.fromkeys(p for t in several for p in t.phases))
    if not phases:
        return
    cols = st.columns(5)
    for col, phase in zip(cols, phases):  # no tooltips: one would pop up over the Pause button above
        col.button(f"Step {phase}", key=f"step_{phase}", on_click=step_phase, args=(several, phase),
                   use_container_width=True)
    if len(phases) < len(cols):
        cols[len(phases)].caption(f"one optimiser step of {' or '.join(phases)} alone")


def step_phase(trainers: list[RunHandle], phase: str) -> None:
    for t in trainers:
        if not t.closed and phase in t.phases:
            t.step(phase)


def status_line(snap: Snapshot, label: str = "") -> None:
    rate = f"{snap.steps_per_s:,.0f} steps/s" if snap.steps_per_s else "—"
    prefix = f"{label} · " if label else ""
    st.markdown(f"{prefix}**step {snap.step}** · {rate} · {snap.status} · device `{snap.device}`")
    # The notice's place, there with or without a notice: a notice that comes and goes (queued for a moment)
    # must not move the elements below it, or the browser builds them anew (a chart blank while it does).
    notice = st.empty()
    if snap.status == "diverged":
        notice.error(snap.message)
    elif snap.status == "queued":
        notice.info(waiting(snap.queue_position, shared_pool().hosts, limits()))
    elif snap.status == "closed":
        notice.warning(f"{snap.message}. Press Reset to start again.")
    elif snap.status == "paused" and snap.message:
        notice.info(f"{snap.message}; press Resume to go on")
    elif snap.status == "done" and snap.message:
        notice.success(snap.message)
    elif snap.message:
        notice.info(snap.message)


def waiting(place: int, hosts: int, caps: Limits) -> str:
    """Why a run waits, and that it will get its turn (a preset's third run on a 2-core machine)."""
    slots = hosts * caps.max_trainers
    runs = (f"{slots} run{'s' * (slots != 1)} at once ({hosts} training process{'es' * (hosts != 1)}, "
            f"{caps.max_trainers} run{'s' * (caps.max_trainers != 1)} each)")
    turns = (f"; a run that has trained {caps.time_slice:g} s while others wait hands its slot on, so the runs "
             "take turns and each advances") if caps.time_slice else ""
    return f"waiting for a free training slot, place {place} in its queue: this server trains {runs}{turns}"
