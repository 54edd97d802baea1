"""Bring your own data: upload a CSV (sidebar), draw points, click them into a plot, or type a density.

Drawn and clicked points are sprayed into small blobs (`genmodels.data.drawn`) and go
through the same validation as a CSV, whose text is kept so that the exported script can
embed it; a share URL cannot carry them, and the page says so. A typed energy U becomes the
dataset `energy:<U>` of the registry (`genmodels.data.formula`, sampled exactly on a fine
grid), so the share URL holds it and opening it reproduces the run.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from genmodels.data import ENERGY_PREFIX, USER_POINTS, dataset_spec, load_csv
from genmodels.data.csvfile import decode
from genmodels.data.drawn import BOX, canvas_points, spray, to_csv
from genmodels.data.formula import N_TEST, N_TRAIN
from genmodels.errors import UserError

from . import figures, session
from .markup import code, plain
from .pictures import common

CSV_DATA, CSV_TEXT = "csv_data", "csv_text"  # the dataset the app trains on, and its CSV source
UPLOADED, UPLOAD_ERROR = "byod.uploaded", "byod.upload_error"  # the parsed upload's file_id, its problem
CLICKED, TOOL = "byod.clicked", "byod.tool_kept"  # the clicked points; the box or lasso tool last used
ENERGY, ENERGY_TEXT, ENERGY_ERROR = "byod.energy_in_use", "byod.energy", "byod.energy_error"  # U trained on, typed
DEFAULT_ENERGY = "x1**2/2 + 2*(x2 - x1**2/2)**2"
NOT_IN_URL = ("The share URL says `data=csv`: it cannot carry drawn, clicked or uploaded points. To share this run, "
              "send the config (.json) and data (.csv) downloads under the plots; load the config, then the CSV.")
CANVAS_SIZE = 400
STROKE_COPIES, STROKE_STD = 20, 0.08  # each drawn vertex becomes a blob of this many points
CLICK_COPIES, CLICK_STD = 40, 0.15
CLICK_GRID = np.linspace(-BOX, BOX, 41)


def panel() -> None:
    """Where the user's points come from, when the sidebar's dataset is 'csv'."""
    spec = st.session_state.get(ENERGY)
    with st.expander("your own data: draw or click points, type a density (or upload a CSV in the sidebar)",
                     expanded=CSV_DATA not in st.session_state and spec is None):
        draw, click, formula = st.tabs(["draw on a canvas", "click points into a plot", "type a density"])
        with draw:
            draw_canvas()
        with click:
            click_points()
        with formula:
            type_density()
    if spec is not None:
        st.caption(f"training on {N_TRAIN + N_TEST:,} samples of exp(-U), U = {code(spec)}; the share URL holds U")
    elif CSV_DATA in st.session_state:
        data = st.session_state[CSV_DATA]
        st.caption(f"training on {plain(data.name)}: {len(data.train) + len(data.test):,} points, standardised")
        st.info(NOT_IN_URL)


def data_name(choice: str) -> str:
    """The setup's dataset for the sidebar's choice: 'energy:<U>' while the user's data is a typed energy."""
    spec = st.session_state.get(ENERGY)
    return ENERGY_PREFIX + spec if choice == USER_POINTS and spec is not None else choice


def choice_state(name: str) -> dict:
    """Session-state values that show dataset `name` in the sidebar and here (a typed energy: its text)."""
    if name.startswith(ENERGY_PREFIX):
        spec = name[len(ENERGY_PREFIX):]
        return {"dataset": USER_POINTS, ENERGY: spec, ENERGY_TEXT: spec}
    return {"dataset": name, ENERGY: None}


def use_upload(file, max_rows: int) -> None:
    """Train on an uploaded CSV. It is parsed once per upload (Streamlit's `file_id`), not on every rerun:
    a new Dataset each rerun would be a new setup, and its run would be replaced before it could train."""
    if st.session_state.get(UPLOADED) != file.file_id:
        st.session_state[UPLOADED] = file.file_id
        try:
            st.session_state[CSV_DATA] = load_csv(file.getvalue(), name=file.name, max_rows=max_rows)
            st.session_state[CSV_TEXT] = decode(file.getvalue())  # for the exported script
            st.session_state[UPLOAD_ERROR], st.session_state[ENERGY] = None, None
        except UserError as e:
            st.session_state[UPLOAD_ERROR] = f"{file.name}: {e}"
    if st.session_state[UPLOAD_ERROR]:
        st.error(st.session_state[UPLOAD_ERROR])


def use_points(points: np.ndarray, name: str, copies: int = 1, std: float = 0.0) -> None:
    """Train on the points, each sprayed into `copies` points, within the server's row cap (checked first)."""
    max_rows = session.limits().max_rows
    try:
        if len(points) * copies > max_rows:
            raise UserError(f"{len(points):,} points, each sprayed into {copies}, make {len(points) * copies:,} rows; "
                            f"this server allows at most {max_rows:,}: use fewer points")
        text = to_csv(spray(points, copies, std) if copies > 1 else points)
        st.session_state[CSV_DATA] = load_csv(text, name=name, max_rows=max_rows)
    except UserError as e:
        st.error(str(e))
        return
    st.session_state[CSV_TEXT] = text
    if st.session_state.pop(ENERGY, None) is not None:
        st.rerun()  # the sidebar's setup still names the energy: build the run on these points


def draw_canvas() -> None:
    from streamlit_drawable_canvas import st_canvas  # registers its component: import only when drawn

    tool = st.radio("tool", ["freedraw", "point"], horizontal=True, key="byod.tool",
                    help="free-hand strokes, or single dots")
    result = st_canvas(drawing_mode=tool, stroke_width=3, stroke_color=common.DATA_COLOUR,
                       background_color="#ffffff", height=CANVAS_SIZE, width=CANVAS_SIZE, point_display_radius=3,
                       key="byod.canvas")
    drawing = result.json_data if isinstance(result.json_data, dict) else {}
    objects = drawing.get("objects", [])
    if st.button("train on this drawing", key="byod.use_drawing", disabled=not objects):
        try:
            points = canvas_points(objects, CANVAS_SIZE, CANVAS_SIZE, session.limits().max_rows // STROKE_COPIES)
        except UserError as e:
            st.error(str(e))
            return
        use_points(points, "your drawing", STROKE_COPIES, STROKE_STD)


def click_points() -> None:
    clicked = st.session_state.setdefault(CLICKED, [])
    gx, gy = np.meshgrid(CLICK_GRID, CLICK_GRID)
    grid = go.Scatter(x=gx.ravel(), y=gy.ravel(), mode="markers", marker=dict(size=6, color="#eeeeee"),
                      hoverinfo="none")
    picked = np.asarray(clicked).reshape(-1, 2)
    fig = figures.figure([grid, go.Scatter(x=picked[:, 0], y=picked[:, 1], mode="markers",
                                           marker=dict(size=10, color=common.MODEL_COLOUR))],
                         "click grid points, or box/lasso-select an area", dragmode=st.session_state.get(TOOL))
    st.plotly_chart(fig, key="byod.click", on_select=add_selection, selection_mode=("points", "box", "lasso"))
    left, right = st.columns(2)
    if left.button(f"train on these {len(clicked)} points", key="byod.use_clicks", disabled=not clicked):
        use_points(picked, "your clicked points", CLICK_COPIES, CLICK_STD)
    right.button("clear", key="byod.clear", on_click=clicked.clear)


def add_selection() -> None:
    """Add the selected grid points (a click, or everything inside a box or lasso) to the clicked ones."""
    selection = st.session_state["byod.click"].selection
    st.session_state[CLICKED].extend((p["x"], p["y"]) for p in selection.points if p.get("curve_number") == 0)
    st.session_state[TOOL] = kept_tool(selection)


def kept_tool(selection) -> str | None:
    """The plotly dragmode to draw the plot with after `selection`: the box or lasso tool that made it, so the
    next area is selected with it too (without one, Streamlit redraws the plot in pan mode, where clicks pick
    points); None after a click."""
    return "select" if selection.get("box") else "lasso" if selection.get("lasso") else None


def type_density() -> None:
    st.session_state.setdefault(ENERGY_TEXT, DEFAULT_ENERGY)
    st.text_input("energy U(x1, x2), sampled from p ∝ exp(-U) on [-4, 4]²", key=ENERGY_TEXT,
                  help="U1 to U4 (Rezende & Mohamed), or an expression in x1, x2 with numbers, + - * / ** and exp, "
                       "log, sin, cos, tanh, abs, ...")
    st.button(f"train on {N_TRAIN + N_TEST:,} samples of it", key="byod.use_energy", on_click=use_energy)
    if st.session_state.get(ENERGY_ERROR):
        st.error(plain(st.session_state.pop(ENERGY_ERROR)))


def use_energy() -> None:
    """Train on the typed energy (before the script: the sidebar's setup then names it, and so does the URL)."""
    spec = st.session_state[ENERGY_TEXT]
    try:
        dataset_spec(ENERGY_PREFIX + spec)  # checks U (bounded, finite, integrable) before anything changes
    except UserError as e:
        st.session_state[ENERGY_ERROR] = str(e)
        return
    st.session_state[ENERGY] = spec
