"""genmodels playground — `streamlit run playground/app.py`.

Sidebar: data, model and settings (mirrored in the URL). Main: controls outside
the live fragment, and the fragment that redraws the latest training snapshot.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `streamlit run` from any folder

from genmodels.data import DATASETS, USER_POINTS, dataset_spec  # noqa: E402
from genmodels.errors import UserError  # noqa: E402
from genmodels.models import MODELS  # noqa: E402
from genmodels.setup import Setup, default_setup  # noqa: E402
from playground import byod, compare, downloads, lecture, live, share_url, widgets  # noqa: E402
from playground.controls import controls  # noqa: E402
from playground.markup import plain  # noqa: E402
from playground.session import freeze_imports, limits, run_for, shared_dataset  # noqa: E402

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CSV = USER_POINTS


def initial_setup() -> Setup:
    """The URL's setup, once per session; bad values are reported and replaced by defaults."""
    if "setup" not in st.session_state:
        query = st.query_params.to_dict()
        setup, problems = Setup.parse(lecture.setup_query(query))
        st.session_state.setup, st.session_state.url_problems = setup, share_url.dropped(query) + problems
    return st.session_state.setup


def sidebar(setup: Setup) -> Setup:
    with st.sidebar:
        st.title("genmodels")
        names = [*DATASETS, CSV]
        if "dataset" not in st.session_state:
            st.session_state.update(byod.choice_state(setup.data))
        data = st.selectbox("dataset", names, key="dataset", format_func=dataset_label,
                            on_change=follow_defaults, args=("dataset",))
        if data == CSV:
            upload_csv()
        st.session_state.setdefault("model", setup.model)
        model = st.selectbox("model", list(MODELS), key="model", format_func=lambda n: f"{n} ({MODELS[n].family})",
                             on_change=follow_defaults, args=("model",))
        with st.expander("model settings", expanded=True):
            current = setup.model_config if model == setup.model else MODELS[model].Config()
            model_config = widgets.config_widgets(MODELS[model].Config, current, f"{model}.")
        with st.expander("training", expanded=True):
            train = widgets.train_widgets(MODELS[model], setup.train, "train.")
    return Setup(byod.data_name(data), model, model_config, train)


def follow_defaults(choice: str) -> None:
    """Untouched defaults follow the sidebar's choice: a setup left as its data's default becomes the new
    data's (its fastest fit) or, for a new model, that model's own defaults."""
    before = st.session_state.get("setup")
    if before is None or before.to_query() != default_setup(before.data).to_query():
        return
    query = {"data": byod.data_name(st.session_state.dataset)}
    if choice == "model":
        query["model"] = st.session_state.model
    st.session_state.update(widgets.setup_state(Setup.parse(query)[0]))


def dataset_label(name: str) -> str:
    return f"{name} — {DATASETS[name].about}" if name in DATASETS else "your own data: a CSV, points or a typed energy"


def upload_csv() -> None:
    file = st.file_uploader("CSV of x, y points (header optional)", type=["csv", "txt", "tsv"], key="csv_file")
    if file is not None:
        byod.use_upload(file, limits().max_rows)


def resolve_data(setup: Setup):
    if setup.data != CSV:
        return shared_dataset(setup.data, dataset_spec(setup.data).data_seed(setup.train.seed))  # one copy each
    if "csv_data" not in st.session_state:
        raise UserError(f"upload a CSV of 2D points in the sidebar (two numeric columns, 10 to {limits().max_rows:,} "
                        "rows)")
    return st.session_state.csv_data


def main() -> None:
    share_url.install()  # from now on an over-long share URL is reported, not silently dropped
    st.set_page_config(page_title="genmodels playground", page_icon="🌀", layout="wide", **lecture.page_options())
    try:
        limits()  # GENMODELS_* settings, read once: a malformed one stops here with its name
    except UserError as e:
        st.error(str(e))
        st.stop()
    freeze_imports()
    st.markdown(f"<style>{(ASSETS / 'style.css').read_text()}</style>", unsafe_allow_html=True)
    lecture.start()
    lecture.preset_picker()
    setup = sidebar(initial_setup())
    setups = [setup, *compare.sidebar(setup)]
    for problem in st.session_state.pop("url_problems", []) + lecture.problems():
        st.warning(f"share URL: {plain(problem)}; the default was used")
    st.session_state.setup = setup
    query = lecture.url_query(setups)
    if st.query_params.to_dict() != query:  # data=csv for the user's points: never another dataset's name
        st.query_params.from_dict(query)
    lecture.header(setups)
    if st.session_state.dataset == CSV:  # the user's points, or a typed energy
        byod.panel()
    try:
        run = run_for(setup, resolve_data(setup))
        runs = [run, *compare.runs_for(setups[1:], run.data)]
    except UserError as e:
        st.error(str(e))
        return
    downloads.apply_pending(run)
    if len(runs) > 1:
        compare.show(runs, lecture.run_names(setups, compare.labels(runs)))
    else:
        controls([run.trainer])
        live.panel(run)
    downloads.panel(run, lecture.title(setups), st.session_state.get(byod.CSV_TEXT) if setup.data == CSV else None)


main()
