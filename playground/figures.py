"""Charts shared by the family views: loss curves, bars and plotly line figures. Fixed sizes and uirevision:
no flicker. The 2D planes and image tiles are pictures (`playground.pictures`), PNGs drawn by the run's host.

Line charts are Vega-Lite (canvas) or plotly SVG traces with few points. Plotly figures are built in one go,
`go.Figure(traces, layout)`: plotly validates a layout dict once, whereas every `update_layout`/`update_xaxes`
call on a built figure costs milliseconds.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import plotly.graph_objects as go
import pyarrow as pa

HEIGHT = 360
MARGIN = dict(l=10, r=10, t=40, b=10)
LOSS_DATA = "losses"  # one dataset name on every refresh: the browser swaps the rows in, the chart stays


class Figure(go.Figure):
    """A go.Figure that makes its dict once. The memo hands one figure to `st.plotly_chart` on every
    refresh, and each call asks for `to_dict`: a deep copy of the figure and a base64 encoding of every
    array, ~3 ms per chart. Figures here are never changed once built, so the first dict stays true."""

    _spec: dict | None = None

    def to_dict(self) -> dict:
        if self._spec is None:
            self._spec = super().to_dict()
        return self._spec


def figure(traces: list, title: str, square: bool = True, axes: tuple[np.ndarray, np.ndarray] | None = None,
           xaxis: dict | None = None, yaxis: dict | None = None, **layout) -> go.Figure:
    """The traces with the shared layout; `axes` (grid ticks) fixes the view; `layout` adds or overrides keys."""
    xaxis, yaxis = dict(xaxis or {}), dict(yaxis or {})
    if axes is not None:
        xaxis["range"], yaxis["range"] = [axes[0][0], axes[0][-1]], [axes[1][0], axes[1][-1]]
    if square:
        yaxis.update(scaleanchor="x", scaleratio=1)
    base = dict(title=title, height=HEIGHT, margin=MARGIN, uirevision="keep", showlegend=False, plot_bgcolor="white")
    axis_keys = {name: axis for name, axis in (("xaxis", xaxis), ("yaxis", yaxis)) if axis}
    return Figure(traces, base | axis_keys | layout)


def first_step_note(step: int, text: str, note: str) -> str:
    """A caption with, at step 0 only, what to expect of an untrained model's picture."""
    return f"{text} ({note})" if step == 0 else text


def long_table(history: dict[str, np.ndarray]) -> pa.Table:
    """Rows (step, value, series), one block per quantity, the series dictionary-encoded.

    Streamlit sends Arrow as is, 0.2 ms for 4000 rows where a pandas frame took 4.6 ms to convert.
    """
    names = list(history)
    rows = np.concatenate([history[k] for k in names]) if names else np.zeros((0, 2))
    codes = np.repeat(np.arange(len(names), dtype=np.int32), [len(history[k]) for k in names])
    series = pa.DictionaryArray.from_arrays(codes, pa.array(names, pa.string()))
    return pa.table({"step": rows[:, 0], "value": rows[:, 1], "series": series})


def arrow_bytes(table: pa.Table) -> bytes:
    """The table in Arrow's IPC stream format, as Streamlit sends a chart's data: a spec built once (`memo`)
    then costs no serialisation on every later refresh."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def loss_chart(history: dict[str, np.ndarray]) -> dict:
    """One small chart per logged quantity against the step, each with its own y axis (quantities of
    different scales never share one): a faceted Vega-Lite spec for `st.vega_lite_chart`.

    The spec Altair would write, built directly: Altair's validation and conversion cost
    ~20 ms per refresh.
    """
    return {
        "$schema": alt.SCHEMA_URL,
        "data": {"name": LOSS_DATA},
        "datasets": {LOSS_DATA: arrow_bytes(long_table(history))},
        "facet": {"field": "series", "type": "nominal", "title": None, "sort": list(history)},
        "columns": 3,
        "spec": {"mark": {"type": "line", "clip": True}, "width": 260, "height": 110,
                 "encoding": {"x": {"field": "step", "type": "quantitative"},
                              "y": {"field": "value", "type": "quantitative", "title": None,
                                    "scale": {"zero": False}},
                              "color": {"field": "series", "type": "nominal", "legend": None}}},
        "resolve": {"scale": {"y": "independent"}},
    }


def compared_chart(history: dict[str, np.ndarray], title: str, log: bool = False) -> dict:
    """Quantities of one kind on one shared axis (to compare them), a line with points each: Vega-Lite."""
    return {
        "$schema": alt.SCHEMA_URL,
        "title": title,
        "data": {"name": "compared"},
        "datasets": {"compared": arrow_bytes(long_table(history))},
        "mark": {"type": "line", "point": True},
        "encoding": {"x": {"field": "step", "type": "quantitative"},
                     "y": {"field": "value", "type": "quantitative", "title": None,
                           "scale": {"type": "log"} if log else {"zero": False}},
                     "color": {"field": "series", "type": "nominal", "legend": {"orient": "bottom"}}},
        "height": 220,
    }


def bar_chart(values: np.ndarray, label: str, title: str) -> dict:
    """One bar per entry (numbered from 1), a Vega-Lite spec."""
    table = pa.table({label: np.arange(1, len(values) + 1), "value": np.asarray(values, np.float64)})
    return {
        "$schema": alt.SCHEMA_URL,
        "title": title,
        "data": {"name": "bars"},
        "datasets": {"bars": arrow_bytes(table)},
        "mark": {"type": "bar"},
        "encoding": {"x": {"field": label, "type": "ordinal"},
                     "y": {"field": "value", "type": "quantitative", "title": None}},
        "height": 160,
    }
