"""Export and share a run, and load one back.

Downloads: the share URL, a standalone script that retrains the run
(`genmodels.lecture.export`), the weights as safetensors with the setup inside, the setup
as JSON, the latest samples as CSV, and an animated GIF of the stored timeline.
Figures export themselves: plotly's toolbar has a PNG button, the loss chart's ⋯
menu saves PNG or SVG. Loading accepts those safetensors or JSON files only
(validated; never pickle).
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from urllib.parse import urlencode

import imageio.v3 as iio
import matplotlib
import numpy as np
import streamlit as st

from genmodels import checkpoint
from genmodels.data import Dataset
from genmodels.errors import UserError
from genmodels.lecture.export import script
from genmodels.training.snapshot import Frame

from . import byod, compare, lecture, session, widgets
from .pictures import common
from .session import Run

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402

GIF_SECONDS_PER_FRAME = 0.2
LOAD, PENDING, LOAD_ERROR = "load.file", "load.pending", "load.error"


def panel(run: Run, title: str, csv_text: str | None) -> None:
    """The export section under the plots (full reruns only: its files are made when clicked)."""
    with st.expander("export · share · load a saved run"):
        share_url()
        snap = run.trainer.snapshot()
        name = f"{run.setup.model}-{run.setup.data}"
        if csv_text is not None:  # the user's points: the URL names them, the config and this file carry them
            st.info(byod.NOT_IN_URL)
            st.download_button("data (.csv)", csv_text, f"{name}-data.csv", "text/csv", key="export.data",
                               on_click="ignore", help="the points this run trains on; upload them in the sidebar")
        cols = st.columns(3)
        cols[0].download_button("script (.py)", script(run.setup, title, csv_text, f"{name}.py"), f"{name}.py",
                                "text/x-python", key="export.script", on_click="ignore",
                                help="a short torch script that retrains this run with genmodels")
        cols[1].download_button("weights (.safetensors)", lambda: weights_bytes(run), f"{name}.safetensors",
                                "application/octet-stream", key="export.weights", on_click="ignore",
                                disabled=run.trainer.closed, help="weights with the setup inside; load below")
        cols[2].download_button("config (.json)", checkpoint.config_json(run.setup, snap.step), f"{name}.json",
                                "application/json", key="export.config", on_click="ignore")
        cols = st.columns(3)
        samples = snap.visuals.get("samples")
        cols[0].download_button("samples (.csv)", samples_csv(samples) if samples is not None else "",
                                f"{name}-samples.csv", "text/csv", key="export.samples", on_click="ignore",
                                disabled=samples is None)
        frames = snap.timeline
        cols[1].download_button("training timeline (.gif)", lambda: timeline_gif(frames, run.data),
                                f"{name}.gif", "image/gif", key="export.gif", on_click="ignore",
                                disabled=len(frames) < 2, help=f"{len(frames)} stored frames, animated")
        cols[2].caption("PNG of a plot: the camera icon in its toolbar; of the curves: their ⋯ menu.")
        st.file_uploader("load a saved run: weights (.safetensors) or config (.json)",
                         type=["safetensors", "json"], key=LOAD, on_change=on_load)
        if LOAD_ERROR in st.session_state:
            st.error(st.session_state.pop(LOAD_ERROR))


def share_url() -> None:
    base = (st.context.url or "").split("?")[0]
    st.code(f"{base}?{urlencode(st.query_params.to_dict())}", language=None)


def weights_bytes(run: Run) -> bytes:
    state, step, history = run.trainer.checkpoint()
    return checkpoint.to_bytes(state, run.setup, step, history)


def samples_csv(samples: np.ndarray) -> str:
    """One sample per row; images flattened (pixel columns x0, x1, ...)."""
    samples = samples.reshape(len(samples), -1)
    header = "x,y" if samples.shape[1] == 2 else ",".join(f"x{i}" for i in range(samples.shape[1]))
    out = io.StringIO()
    np.savetxt(out, samples, delimiter=",", header=header, comments="", fmt="%.6g")
    return out.getvalue()


def timeline_gif(frames: tuple[Frame, ...], data: Dataset) -> bytes:
    """Each stored frame's samples (over the data, or as an image grid), one GIF frame each."""
    fig, ax = plt.subplots(figsize=(4, 4), dpi=80)
    limits = np.percentile(data.test, [0.5, 99.5], axis=0) if not data.is_image else None
    pictures = []
    for frame in frames:
        ax.clear()
        draw_frame(ax, frame, data, limits)
        fig.canvas.draw()
        pictures.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    plt.close(fig)
    return iio.imwrite("<bytes>", np.stack(pictures), extension=".gif",
                       duration=int(GIF_SECONDS_PER_FRAME * 1000), loop=0)


def draw_frame(ax, frame: Frame, data: Dataset, limits: np.ndarray | None) -> None:
    samples = frame.visuals.get("samples")
    ax.set_title(f"step {frame.step}")
    ax.set_axis_off()
    if samples is None:
        return
    if data.is_image:
        ax.imshow(common.image_grid(samples[:40], data.shape, columns=8), cmap="gray", vmin=0, vmax=1)
        return
    x = common.thin(data.test, 1000)
    ax.scatter(x[:, 0], x[:, 1], s=2, c=common.DATA_COLOUR, alpha=0.4)
    ax.scatter(samples[:, 0], samples[:, 1], s=2, c=common.MODEL_COLOUR, alpha=0.6)
    margin = 0.1 * (limits[1] - limits[0])
    ax.set_xlim(limits[0][0] - margin[0], limits[1][0] + margin[0])
    ax.set_ylim(limits[0][1] - margin[1], limits[1][1] + margin[1])


def on_load() -> None:
    """Read the uploaded file; show its setup in the sidebar and, for weights, load them into the new run."""
    file = st.session_state.get(LOAD)
    if file is None:
        return
    try:
        if file.name.endswith(".json"):
            setup, pending = checkpoint.setup_from_json(file.getvalue(), file.name), None
        else:
            setup, pending = read_checkpoint(file.getvalue(), file.name)
    except UserError as e:
        st.session_state[LOAD_ERROR] = f"{file.name}: {e}"
        return
    st.session_state.update({**byod.choice_state(setup.data), lecture.PRESET: lecture.NO_PRESET,
                             **widgets.setup_state(setup)})
    st.session_state.setup = setup
    compare.set_runs([])
    if pending is not None:
        st.session_state[PENDING] = pending


def read_checkpoint(content: bytes, name: str):
    """(setup, (setup, weights, step, history)) of a checkpoint file, validated by `checkpoint.load` under the app's
    caps."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(name).name
        path.write_bytes(content)
        try:
            model, setup, step, history = checkpoint.load(str(path), session.limits())
        except UserError as e:
            raise UserError(str(e).replace(str(path), "the file")) from None
    return setup, (setup, model.state_dict(), step, history)


def apply_pending(run: Run) -> None:
    """Load weights (and their loss history) read by `on_load` into the run built for their setup (once)."""
    pending = st.session_state.get(PENDING)
    if pending is None or pending[0] != run.setup:
        return
    del st.session_state[PENDING]
    _, state, step, history = pending
    try:
        run.trainer.load_weights(state, step, history)
    except UserError as e:
        st.error(str(e))
