"""The VAE page of the app without a browser (AppTest): every view draws, and EM steps by hand."""

import re
import time
from pathlib import Path

import pytest
from app_helpers import pictures
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "playground" / "app.py")


@pytest.fixture
def app():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["model"] = "vae"
    yield at
    run = at.session_state["run"] if "run" in at.session_state else None
    if run is not None:
        run.trainer.close()


def step_once(at: AppTest) -> None:
    at.button(key="step").click().run()
    end = time.monotonic() + 60
    while "grad_variance" not in at.session_state["run"].trainer.snapshot().visuals and time.monotonic() < end:
        time.sleep(0.2)
    at.run()


def test_digits_page_draws_latents_grid_reconstructions_interpolation_samples_and_variance(app):
    app.query_params["data"] = "digits"
    app.run()
    assert not app.exception
    assert len(pictures(app)) == 5  # latent scatter, grid, reconstructions, interpolation, samples
    assert all(c.startswith("step 0 · ") for c in pictures(app))
    assert "untrained decoder's blur" in pictures(app)[-1]
    step_once(app)
    assert not app.exception
    assert all(c.startswith("step 1 · ") for c in pictures(app))  # the step they show, not a fixed "step 0"
    assert "untrained" not in pictures(app)[-1]
    assert len(app.get("vega_lite_chart")) == 2  # the losses, + the estimators' gradient variance at step 1


def test_moons_page_has_point_views_and_em_recap_where_elbo_meets_log_likelihood(app):
    app.query_params["data"] = "moons"
    app.run()
    assert not app.exception
    assert len(pictures(app)) == 5  # samples, grid mesh, latents, reconstructions; EM mixture (below the panel)
    assert len(app.get("plotly_chart")) == 1  # EM history
    app.button(key="em_step").click().run()
    text = next(m.value for m in app.markdown if "after the" in m.value)
    assert "E-step" in text
    ll, elbo = (float(v) for v in re.findall(r"\*\*(-?\d+\.\d+)\*\*", text))
    assert ll == elbo
    app.button(key="em_step").click().run()
    assert not app.exception and any("M-step" in m.value for m in app.markdown)
