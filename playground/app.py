"""genmodels playground — `streamlit run playground/app.py`.

Sidebar: data, model and settings (mirrored in the URL). Main: controls outside
the live fragment, and the fragment that redraws the latest training snapshot.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `streamlit run` from any folder

from genmodels.config import TrainConfig  # noqa: E402
from genmodels.data import DATASETS, load_csv  # noqa: E402
from genmodels.errors import UserError  # noqa: E402
from genmodels.models import MODELS  # noqa: E402
from genmodels.setup import Setup  # noqa: E402
from playground import figures, widgets  # noqa: E402
from playground.session import Run, run_for, shared_dataset  # noqa: E402
from playground.views import VIEWS  # noqa: E402

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CSV = "csv"


def initial_setup() -> Setup:
    """The URL's setup, once per session; bad values are reported and replaced by defaults."""
    if "setup" not in st.session_state:
        setup, problems = Setup.parse(st.query_params.to_dict())
        st.session_state.setup, st.session_state.url_problems = setup, problems
    return st.session_state.setup


def sidebar(setup: Setup) -> Setup:
    with st.sidebar:
        st.title("genmodels")
        names = [*DATASETS, CSV]
        st.session_state.setdefault("dataset", setup.data if setup.data in names else names[0])
        data = st.selectbox("dataset", names, key="dataset", format_func=dataset_label)
        if data == CSV:
            upload_csv()
        st.session_state.setdefault("model", setup.model)
        model = st.selectbox("model", list(MODELS), key="model", format_func=lambda n: f"{n} ({MODELS[n].family})")
        with st.expander("model settings", expanded=True):
            current = setup.model_config if model == setup.model else MODELS[model].Config()
            model_config = widgets.config_widgets(MODELS[model].Config, current, f"{model}.")
        with st.expander("training", expanded=True):
            train = widgets.config_widgets(TrainConfig, setup.train, "train.")
    return Setup(data, model, model_config, train)


def dataset_label(name: str) -> str:
    return f"{name} — {DATASETS[name].about}" if name in DATASETS else "your CSV of 2D points"


def upload_csv() -> None:
    file = st.file_uploader("CSV of x, y points (header optional)", type=["csv", "txt", "tsv"], key="csv_file")
    if file is None:
        return
    try:
        st.session_state.csv_data = load_csv(file.getvalue(), name=file.name)
    except UserError as e:
        st.error(f"{file.name}: {e}")


def resolve_data(setup: Setup):
    if setup.data != CSV:
        return shared_dataset(setup.data, setup.train.seed)
    if "csv_data" not in st.session_state:
        raise UserError("upload a CSV of 2D points in the sidebar (two numeric columns, 10 to 1,000,000 rows)")
    return st.session_state.csv_data


def controls(run: Run) -> None:
    t = run.trainer
    status = t.snapshot().status
    cols = st.columns(5)
    cols[0].button("Resume" if status in ("paused", "stopped") else "Train", key="train", on_click=t.start,
                   type="primary", disabled=status in ("diverged", "done"), use_container_width=True)
    cols[1].button("Pause", key="pause", on_click=t.pause, use_container_width=True)
    cols[2].button("Step", key="step", on_click=t.step, use_container_width=True, help="one optimiser round")
    cols[3].button("Stop", key="stop", on_click=t.stop, use_container_width=True)
    cols[4].button("Reset", key="reset", on_click=t.reset, use_container_width=True, help="fresh weights, same seed")


def live(run: Run) -> None:
    fast = run.trainer.active

    @st.fragment(run_every=0.25 if fast else 2.0)
    def panel() -> None:
        t = run.trainer
        t.heartbeat()
        snap = t.snapshot()
        if fast and not t.active:
            st.rerun()  # training ended: full rerun to slow the timer and refresh the buttons
        status_line(snap)
        st.altair_chart(figures.loss_chart(snap.history), key="loss")
        VIEWS[MODELS[run.setup.model].family](snap, run.data, run.setup)

    panel()


def status_line(snap) -> None:
    rate = f"{snap.steps_per_s:,.0f} steps/s" if snap.steps_per_s else "—"
    st.markdown(f"**step {snap.step}** · {rate} · {snap.status} · device `{snap.device}`")
    if snap.status == "diverged":
        st.error(snap.message)
    elif snap.status == "queued":
        st.info(f"waiting for a free training slot: place {snap.queue_position} in the queue")
    elif snap.status == "closed":
        st.warning(f"{snap.message}. Press Reset to start again.")


def main() -> None:
    st.set_page_config(page_title="genmodels playground", page_icon="🌀", layout="wide")
    st.markdown(f"<style>{(ASSETS / 'style.css').read_text()}</style>", unsafe_allow_html=True)
    setup = sidebar(initial_setup())
    for problem in st.session_state.pop("url_problems", []):
        st.warning(f"share URL: {problem}; the default was used")
    st.session_state.setup = setup
    if setup.data != CSV and st.query_params.to_dict() != setup.to_query():
        st.query_params.from_dict(setup.to_query())
    try:
        run = run_for(setup, resolve_data(setup))
    except UserError as e:
        st.error(str(e))
        return
    controls(run)
    live(run)


main()
