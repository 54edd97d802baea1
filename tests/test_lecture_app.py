"""Lecture use of the app (AppTest): presets set the sidebar and the URL, lecture mode, compare, replay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from app_helpers import pictures, query, statuses, wait_until
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from genmodels.lecture.presets import load_presets

APP = str(Path(__file__).resolve().parents[1] / "playground" / "app.py")
SLOTS = ("run", "run.B", "run.C")
PRESETS = load_presets()[0]
LONG = 1_000_000  # steps: more than any block trains


def new_app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for k, v in query.items():
        at.query_params[k] = v
    return at


@pytest.fixture
def apps():
    made: list[AppTest] = []
    yield lambda **query: made.append(new_app(**query)) or made[-1]
    for at in made:
        for slot in SLOTS:
            if slot in at.session_state:
                at.session_state[slot].trainer.close()


def steps(at: AppTest) -> list[int]:
    return [int(s.split("**step ")[1].split("**")[0]) for s in statuses(at)]


def test_choosing_a_preset_sets_the_sidebar_the_compared_run_and_the_url(apps):
    at = apps()
    at.run()
    at.selectbox(key="preset").set_value("realnvp-depth").run()
    assert not at.exception
    assert query(at) == {"preset": "realnvp-depth"}
    assert at.selectbox(key="dataset").value == "moons"
    assert at.number_input(key="realnvp.layers").value == 1 and at.number_input(key="realnvp.hidden").value == 64
    assert at.number_input(key="train.steps").value == 1500
    assert at.toggle(key="compare.on").value and at.number_input(key="B.realnvp.layers").value == 8
    assert at.subheader[0].value == PRESETS["realnvp-depth"].title and len(at.get("latex")) == 1
    assert [s.split(" · ")[0] for s in statuses(at)] == ["1 coupling layer", "8 coupling layers"]

    at.selectbox(key="preset").set_value("realnvp-coupling").run()
    assert query(at) == {"preset": "realnvp-coupling"} and not at.toggle(key="compare.on").value
    assert at.number_input(key="realnvp.layers").value == 8 and len(statuses(at)) == 1

    at.number_input(key="realnvp.layers").set_value(4).run()  # edited: the URL spells the setup out
    assert query(at) == {"data": "moons", "model": "realnvp", "layers": "4", "steps": "1500", "lr": "0.002"}
    assert "changed from the preset" in at.caption[0].value
    at.button(key="preset.restore").click().run()
    assert query(at) == {"preset": "realnvp-coupling"} and at.number_input(key="realnvp.layers").value == 8


def test_lecture_url_opens_the_preset_with_its_bar_and_shortcut_buttons(apps):
    names = list(PRESETS)
    at = apps(preset="realnvp-depth", lecture="1")
    at.run()
    assert not at.exception
    assert query(at) == {"preset": "realnvp-depth", "lecture": "1"}
    assert any("readable from the back of a hall" in m.value for m in at.markdown)  # lecture.css
    assert at.number_input(key="B.realnvp.layers").value == 8
    assert at.button(key="train").proto.shortcut.lower() == "t"
    at.button(key="preset.next").click().run()
    expected = names[(names.index("realnvp-depth") + 1) % len(names)]
    assert at.selectbox(key="preset").value == expected and query(at) == {"preset": expected, "lecture": "1"}


def test_compared_runs_round_trip_through_the_share_url(apps):
    at = apps(model="realnvp")
    at.run()
    at.toggle(key="compare.on").set_value(True).run()
    at.select_slider(key="B.train.lr").set_value(0.01).run()
    at.number_input(key="B.realnvp.layers").set_value(2).run()
    q = query(at)
    assert q == {"data": "moons", "model": "realnvp", "B.model": "realnvp", "B.layers": "2", "B.lr": "0.01"}
    fresh = apps(**q)
    fresh.run()
    assert fresh.toggle(key="compare.on").value and fresh.number_input(key="B.realnvp.layers").value == 2
    assert query(fresh) == q and not fresh.warning


def test_compare_trains_both_runs_at_once_with_one_chart(apps):
    at = apps(preset="realnvp-depth")
    at.run()
    at.button(key="train").click().run()
    wait_until(at, lambda: min(steps(at)) > 3)  # both runs trained (one may already be done: blocks may be long)
    assert {"1 coupling layer · loss", "8 coupling layers · loss"} <= chart_series(at)  # one chart, both runs
    at.button(key="pause").click().run()
    wait_until(at, lambda: all("paused" in s or "done" in s for s in statuses(at)))
    at.radio(key="compare.detail").set_value(1).run()  # run B's own family figures, below the columns
    assert not at.exception and at.slider(key="stage_k").max == 8  # run B's flow has 8 layers, A's 1


def chart_series(at: AppTest) -> set[str]:
    chart = at.get("vega_lite_chart")[0]  # the merged loss chart, above the family views
    return set(convert_arrow_bytes_to_pandas_df(chart.proto.datasets[0].data.data)["series"])


def test_replay_slider_redraws_an_earlier_step_once_paused(apps):
    at = apps(layers="2", hidden="16")
    at.run()
    for step in (1, 2, 3):  # each Step publishes the pictures of its step: frames however long blocks are
        at.button(key="step").click().run()
        wait_until(at, lambda s=step: steps(at)[0] == s and "paused" in statuses(at)[0])
    slider = next(s for s in at.select_slider if s.key.startswith("replay."))
    first = slider.options[0]
    slider.set_value(first).run()
    assert not at.exception
    assert pictures(at)  # the flow view drew the picked frame


def test_a_typed_density_is_in_the_share_url_and_opening_it_reproduces_the_data(apps):
    at = apps()
    at.run()
    at.selectbox(key="dataset").set_value("csv").run()
    at.text_input(key="byod.energy").set_value("__import__('os')").run()
    at.button(key="byod.use_energy").click().run()
    assert any(r"unknown function '\_\_import\_\_'" in e.value for e in at.error) and not at.exception
    energy = "x1**2/2 + 2*(x2 - x1**2/2)**2"
    at.text_input(key="byod.energy").set_value(energy).run()
    at.button(key="byod.use_energy").click().run()
    assert not at.exception and statuses(at)
    assert query(at) == {"data": f"energy:{energy}", "model": "realnvp"}
    assert any(f"U = ` {energy} `" in c.value for c in at.caption)  # shown as typed: `**` is not bold markdown
    shared = apps(**query(at))
    shared.run()
    assert not shared.exception and shared.selectbox(key="dataset").value == "csv"
    assert shared.text_input(key="byod.energy").value == energy and query(shared) == query(at)
    ours, theirs = at.session_state["run"].data, shared.session_state["run"].data
    assert ours.name == theirs.name == f"energy:{energy}" and np.array_equal(ours.train, theirs.train)


def test_clicked_points_never_leave_another_datasets_name_in_the_url(apps):
    at = apps(data="8gaussians")
    at.run()
    at.selectbox(key="dataset").set_value("csv").run()
    at.session_state["byod.clicked"] = [(0.0, 0.0), (1.0, 1.0), (2.0, -1.0)]
    at.run()
    at.button(key="byod.use_clicks").click().run()
    assert not at.exception and at.session_state["run"].data.name == "your clicked points"
    assert query(at) == {"data": "csv", "model": "realnvp"}
    assert sum("cannot carry drawn, clicked or uploaded points" in i.value for i in at.info) == 2  # here and export
    assert any('label: "data (.csv)"' in str(b.proto) for b in at.get("download_button"))


def test_the_box_or_lasso_tool_stays_after_a_selection_and_a_click_goes_back_to_picking(apps):
    from playground.byod import kept_tool

    assert kept_tool({"points": [{"x": 0}], "box": [{"x": [0, 1]}], "lasso": []}) == "select"
    assert kept_tool({"points": [], "box": [], "lasso": [{"x": [0, 1, 0]}]}) == "lasso"
    assert kept_tool({"points": [{"x": 0}], "box": [], "lasso": []}) is None
    at = apps()
    at.run()
    at.selectbox(key="dataset").set_value("csv").run()
    at.session_state["byod.tool_kept"] = "lasso"
    at.run()
    plot = next(p for p in at.get("plotly_chart") if "click grid points" in p.proto.spec)
    assert json.loads(plot.proto.spec)["layout"]["dragmode"] == "lasso"


def test_step_d_and_step_g_have_no_tooltip_over_the_pause_button(apps):
    at = apps(data="ring8", model="gan")
    at.run()
    for key in ("step_D", "step_G"):
        assert not at.button(key=key).help
    assert any("one optimiser step of D or G alone" in c.value for c in at.caption)


def test_three_runs_of_a_preset_all_advance_by_taking_turns(apps):
    """On two cores (two hosts, one slot each) one host holds two of the runs: they take turns. The runs get a
    budget no block reaches (a preset's 3,000 steps fit in one 10 s block), so none ends before all have trained."""
    at = apps(preset="vae-objectives")
    at.run()
    for prefix in ("", "B.", "C."):
        at.number_input(key=f"{prefix}train.steps").set_value(LONG).run()
    assert len(statuses(at)) == 3
    at.button(key="train").click().run()
    seen = [0, 0, 0]

    def every_run_trained() -> bool:
        seen[:] = [max(a, b) for a, b in zip(seen, steps(at))]
        return min(seen) > 0 and max(seen) < LONG

    wait_until(at, every_run_trained)


def test_every_preset_opens_without_an_error(apps):
    at = apps()
    at.run()
    for name in PRESETS:
        at.selectbox(key="preset").set_value(name).run()
        assert not at.exception and not at.error, (name, at.exception, at.error)
        assert query(at) == {"preset": name} and len(statuses(at)) == len(PRESETS[name].runs)
