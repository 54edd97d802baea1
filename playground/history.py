"""Replay a run: once it is paused or finished, a slider over its stored frames redraws any past step.

The Trainer keeps at most TIMELINE_FRAMES evenly spread past visuals; the family's own
view draws the picked frame exactly as it drew the live one.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from genmodels.training.snapshot import Snapshot


def replay(snap: Snapshot, active: bool) -> Snapshot:
    """The snapshot to draw: the live one while training, else the one at the step the slider picks."""
    frames = snap.timeline
    if active or len(frames) < 2:
        return snap
    steps = [f.step for f in frames]
    # A new key per timeline, so a longer run starts the slider at its end again.
    step = st.select_slider("replay the run: step", options=steps, value=steps[-1],
                            key=f"replay.{steps[-1]}.{len(steps)}",
                            help="drag (or use the arrow keys) to redraw the figures of an earlier step")
    frame = frames[steps.index(step)]
    return dataclasses.replace(snap, visuals=frame.visuals, visuals_step=frame.step)
