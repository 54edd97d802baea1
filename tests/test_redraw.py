"""Cheap redraws of the live panel: pictures are built once per new visuals (and slider value), the
loss chart carries the history's numbers, and the open-page benchmark returns sane records."""

import base64
import dataclasses
import math
import statistics
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from app_helpers import PNG, pictures
from streamlit.testing.v1 import AppTest

from genmodels.data import load_dataset
from genmodels.setup import Setup
from genmodels.training.snapshot import Snapshot
from playground import bench, figures, memo

LAYERS = 4


def flow_visuals(seed: int) -> dict[str, np.ndarray]:
    """What a flow's `visuals` holds on 2D data, made up: the view only draws it."""
    rng = np.random.default_rng(seed)
    g = np.linspace(-2, 2, 16, dtype=np.float32)
    return {"grid_x": g, "grid_y": g, "log_density": rng.normal(size=16 * 16).astype(np.float32),
            "samples": rng.normal(size=(200, 2)).astype(np.float32),
            "stages": rng.normal(size=(LAYERS + 1, 100, 2)).astype(np.float32)}


def page(shown, data, setup):  # an AppTest script: the flow view of whatever snapshot `shown` holds
    from playground.views import flow

    flow.draw(shown["snap"], data, setup)


@pytest.fixture
def builds(monkeypatch):
    """Count the calls of the picture builders the flow view uses."""
    from playground.pictures import flow

    calls = Counter()
    for name in ("density_picture", "samples_picture", "stages_picture"):
        build = getattr(flow, name)
        monkeypatch.setattr(flow, name, lambda *a, _b=build, _n=name, **k: calls.update([_n]) or _b(*a, **k))
    return calls


@pytest.fixture
def flow_page():
    shown = {"snap": Snapshot(step=10, visuals=flow_visuals(0), visuals_step=10)}
    at = AppTest.from_function(page, args=(shown, load_dataset("moons", 0), Setup(data="moons", model="realnvp")),
                               default_timeout=60)
    at.run()
    assert not at.exception
    return at, shown


def test_a_redraw_with_the_same_visuals_builds_no_figure(flow_page, builds):
    at, shown = flow_page
    at.run()  # the first redraw in `flow_page` already built them
    shown["snap"] = dataclasses.replace(shown["snap"], step=11)  # new losses, same visuals (same dict)
    at.run()
    assert not at.exception and len(pictures(at)) == 3
    assert builds == {}
    assert all(c.startswith("step 10 · ") for c in pictures(at))  # the step the pictures are of, not the counter


def test_new_visuals_rebuild_every_figure_once(flow_page, builds):
    at, shown = flow_page
    shown["snap"] = Snapshot(step=20, visuals=flow_visuals(1), visuals_step=20)
    at.run()
    at.run()
    assert builds == {"density_picture": 1, "samples_picture": 1, "stages_picture": 1}


def test_pictures_made_by_the_host_are_sent_as_they_are_and_the_slider_draws_on_the_page(builds):
    from playground.pictures import render

    data = load_dataset("moons", 0)
    v = flow_visuals(2)
    hosted = render(v, data, Setup(data="moons", model="realnvp"))
    builds.clear()  # those were the host's
    shown = {"snap": Snapshot(step=10, visuals=v | hosted, visuals_step=10)}
    at = AppTest.from_function(page, args=(shown, data, Setup(data="moons", model="realnvp")), default_timeout=60)
    at.run()
    assert not at.exception and builds == {}
    sent = [png for h in at.get("html") for png in PNG.findall(h.proto.body)]
    assert sent == [base64.b64encode(hosted[f"png:{name}"].tobytes()).decode()
                    for name in ("density", "samples", "stages")]
    at.slider(key="stage_k").set_value(1).run()  # a layer count the host did not draw
    assert builds == {"stages_picture": 1}


def test_moving_the_layer_slider_rebuilds_only_that_figure_and_moving_back_reuses_it(flow_page, builds):
    at, _ = flow_page
    at.slider(key="stage_k").set_value(1).run()
    assert builds == {"stages_picture": 1}
    assert "after 1 of 4 layers" in pictures(at)[2]
    at.slider(key="stage_k").set_value(LAYERS).run()
    assert builds == {"stages_picture": 1}  # k = 4 was built for the first redraw and is still kept


def test_the_memo_keeps_the_most_recently_used_entries_only(monkeypatch):
    monkeypatch.setattr(memo, "st", SimpleNamespace(session_state={}))
    source = object()
    for i in range(memo.SIZE + 5):
        memo.get(i, source, lambda i=i: i)
    assert memo.get(0, source, lambda: "rebuilt") == "rebuilt"  # evicted: the oldest went first
    assert memo.get(memo.SIZE + 4, source, lambda: "rebuilt") == memo.SIZE + 4
    assert memo.get(memo.SIZE + 4, object(), lambda: "new source") == "new source"
    assert len(memo.st.session_state[memo.STATE_KEY]) == memo.SIZE


def test_loss_chart_has_one_row_per_logged_point_of_each_series():
    history = {"loss": np.array([[1, 3.0], [2, 2.5], [3, 2.0]]), "kl": np.array([[1, 0.5], [3, 0.25]])}
    spec = figures.loss_chart(history)
    rows = pa.ipc.open_stream(spec["datasets"][spec["data"]["name"]]).read_all().to_pandas()
    expected = pd.DataFrame([(s, k, v) for k, h in history.items() for s, v in h], columns=["step", "series", "value"])
    rows["series"] = rows["series"].astype(str)
    pd.testing.assert_frame_equal(rows[["step", "series", "value"]].reset_index(drop=True), expected,
                                  check_dtype=False)
    assert set(spec["spec"]["encoding"]) == {"x", "y", "color"} and spec["facet"]["field"] == "series"
    assert spec["resolve"] == {"scale": {"y": "independent"}}  # one y axis per quantity
    assert pa.ipc.open_stream(figures.loss_chart({})["datasets"][figures.LOSS_DATA]).read_all().num_rows == 0


def test_the_open_page_bench_reports_finite_positive_rates():
    records = bench.measure(seconds=0.5, repeats=1, warm_up=0.2, setups=(("moons", "realnvp"),))
    [r] = records
    for key in ("headless_steps_per_s", "visuals_steps_per_s", "page_steps_per_s", "visuals_ratio", "page_ratio",
                "redraw_cpu_ms", "redraw_cpu_ms_median", "rest_same_ms", "rest_new_ms"):
        assert math.isfinite(r[key]) and r[key] > 0, key
    assert r["redraws"] >= 1
    [paired] = bench.measure(seconds=0.3, repeats=2, warm_up=0.2, setups=(("moons", "vae"),))
    rates = paired["rates"]  # each mode's rate over the mean of the headless rates on either side of it
    h = rates["headless"]
    assert len(h) == 3 and len(rates["page"]) == len(rates["visuals"]) == 2
    for mode in ("page", "visuals"):
        assert paired[f"{mode}_ratio"] == pytest.approx(statistics.median(
            [rates[mode][0] / ((h[0] + h[1]) / 2), rates[mode][1] / ((h[1] + h[2]) / 2)]))
    text = bench.markdown(records, 0.5, 1)
    assert text.startswith("## The open page") and "| moons | realnvp | 256 |" in text


def test_the_bench_brackets_a_ratio_by_its_quartiles():
    assert bench.spread([1.1, 0.9, 1.0, 1.05, 0.95]) == "(0.95–1.05)"
    assert bench.spread([0.97]) == ""  # one repeat has no spread to show


def test_a_figure_makes_its_dict_once_and_it_is_plotlys():
    """st.plotly_chart asks every refresh; the cached dict must be the one plotly itself makes."""
    points = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    fig = figures.figure([figures.go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers")], "points")
    assert fig.to_dict() is fig.to_dict()
    plain = figures.go.Figure(fig)  # the same figure as a plain go.Figure: a dict of its own
    assert figures.go.Figure(fig.to_dict()) == plain
