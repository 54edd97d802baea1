"""The Streamlit app without a browser (AppTest): default page, Train, controls, share URL."""

import time
from pathlib import Path

import pytest
from app_helpers import pictures, query, wait_until
from streamlit.testing.v1 import AppTest

from genmodels.setup import FASTEST_FIT

APP = str(Path(__file__).resolve().parents[1] / "playground" / "app.py")


@pytest.fixture
def app():
    at = AppTest.from_file(APP, default_timeout=120)
    yield at
    run = at.session_state["run"] if "run" in at.session_state else None
    if run is not None:
        run.trainer.close()


def step_text(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**step "))


def step_of(at: AppTest) -> int:
    return int(step_text(at).split()[1].rstrip("*"))


def test_default_page_is_moons_at_its_fastest_fit_with_plots(app):
    app.run()
    assert not app.exception
    assert app.selectbox(key="dataset").value == "moons" and app.selectbox(key="model").value == "nsf"
    assert step_text(app).startswith("**step 0**") and "cpu" in step_text(app)
    assert len(pictures(app)) >= 2  # density and samples pictures
    assert query(app) == {"data": "moons", **FASTEST_FIT["moons"]}


def test_train_advances_the_step_counter_and_pause_holds_it(app):
    app.query_params["steps"] = "1000000"  # trains until paused, however fast the machine (or long a block)
    app.run()
    app.button(key="train").click().run()
    wait_until(app, lambda: step_of(app) > 5)
    app.button(key="pause").click().run()
    wait_until(app, lambda: "paused" in step_text(app))
    held = step_of(app)
    time.sleep(0.5)
    app.run()
    assert step_of(app) == held
    app.button(key="step").click().run()
    wait_until(app, lambda: step_of(app) == held + 1)
    app.button(key="reset").click().run()
    wait_until(app, lambda: step_of(app) == 0)


def test_changing_settings_updates_the_url_and_share_url_restores_them(app):
    app.run()
    app.selectbox(key="model").set_value("realnvp").run()
    app.selectbox(key="dataset").set_value("8gaussians").run()
    app.number_input(key="realnvp.layers").set_value(4).run()
    app.number_input(key="train.seed").set_value(3).run()
    q = query(app)
    assert q == {"data": "8gaussians", "model": "realnvp", "layers": "4", "seed": "3"}

    fresh = AppTest.from_file(APP, default_timeout=120)
    for k, v in q.items():
        fresh.query_params[k] = v
    fresh.run()
    try:
        assert fresh.selectbox(key="dataset").value == "8gaussians"
        assert fresh.number_input(key="realnvp.layers").value == 4
        assert fresh.number_input(key="train.seed").value == 3
    finally:
        fresh.session_state["run"].trainer.close()


def test_tampered_url_warns_and_uses_defaults(app):
    app.query_params["lr"] = "1e9"
    app.query_params["data"] = "../../etc/passwd"
    app.run()
    warnings = " ".join(w.value for w in app.warning)
    assert "lr = 1000000000.0 is outside" in warnings and "unknown dataset" in warnings
    assert app.selectbox(key="dataset").value == "moons" and not app.exception


def test_csv_choice_without_a_file_asks_for_one(app):
    app.run()
    app.selectbox(key="dataset").set_value("csv").run()
    assert any("upload a CSV" in e.value for e in app.error) and not app.exception


def test_digits_with_realnvp_shows_an_image_of_samples(app):
    app.run()
    app.selectbox(key="dataset").set_value("digits").run()
    assert not app.exception and len(pictures(app)) == 1


def test_settings_that_do_nothing_in_the_current_mode_are_hidden(app):
    """The reverse-KL target shows only once the objective is reverse_kl (fitting data ignores it)."""
    app.run()
    assert "nsf.target" not in {w.key for w in app.text_input}
    app.selectbox(key="nsf.objective").set_value("reverse_kl").run()
    assert not app.exception and "nsf.target" in {w.key for w in app.text_input}


def test_untouched_defaults_follow_the_dataset_and_chosen_settings_stay(app):
    app.run()
    app.selectbox(key="dataset").set_value("digits").run()  # no fastest fit measured there: the defaults
    assert app.selectbox(key="model").value == "realnvp" and query(app) == {"data": "digits", "model": "realnvp"}
    app.selectbox(key="dataset").set_value("8gaussians").run()
    assert query(app) == {"data": "8gaussians", **FASTEST_FIT["8gaussians"]}
    app.number_input(key="nsf.layers").set_value(5).run()  # now the user's choice
    app.selectbox(key="dataset").set_value("moons").run()
    assert query(app) == {"data": "moons", **FASTEST_FIT["moons"], "layers": "5"}
