"""The VAE page of the app without a browser (AppTest): every view draws, the run's host draws its pictures,
and EM steps by hand."""

import base64
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from app_helpers import PNG, pictures
from streamlit.testing.v1 import AppTest

from genmodels.data import load_dataset
from genmodels.setup import Setup
from genmodels.training.loop import Training
from genmodels.training.snapshot import Snapshot
from playground.pictures import raster, render

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


def page(shown, data, setup):  # an AppTest script: the VAE view of whatever snapshot `shown` holds
    from playground.views import vae

    vae.draw(shown["snap"], data, setup)


@pytest.mark.parametrize("name, shown", [
    ("digits", ["vae_latent", "vae_grid", "vae_recon", "vae_interp", "vae_samples"]),
    ("moons", ["vae_samples", "vae_grid", "vae_latent", "vae_recon"])])
def test_the_host_draws_every_picture_the_page_shows_and_the_page_without_them_draws_the_same(
        name, shown, monkeypatch):
    """The live panel has no widget, so the host's PNGs are all it shows: a redraw of visuals carrying them
    encodes no PNG and sends exactly those bytes; the same visuals without them are drawn on the page, one
    PNG per picture, to the same bytes."""
    setup = Setup.from_query({"data": name, "model": "vae", "hidden": "16"})
    data = load_dataset(name, 0)
    v = Training(lambda: setup.build_model(data), data, setup.train, device="cpu").visuals()
    hosted = render(v, data, setup)
    encoded, png = Counter(), raster.png
    monkeypatch.setattr(raster, "png", lambda picture: encoded.update(["png"]) or png(picture))

    def sent(visuals: dict) -> list[bytes]:
        at = AppTest.from_function(page, args=({"snap": Snapshot(step=3, visuals=visuals, visuals_step=3)}, data,
                                               setup), default_timeout=60)
        at.run()
        assert not at.exception
        return [base64.b64decode(b) for h in at.get("html") for b in PNG.findall(h.proto.body)]

    expected = [hosted[f"png:{k}"].tobytes() for k in shown]
    assert sorted(hosted) == sorted(f"png:{k}" for k in shown)
    assert sent(v | hosted) == expected and encoded == {}
    assert sent(v) == expected and encoded == {"png": len(shown)}
