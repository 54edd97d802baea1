"""The GAN view in the app (AppTest, no browser): panels on a known-density mixture, Step D / Step G, images."""

import base64
import html
import re
import time
from collections import Counter

import pytest
from app_helpers import PNG, TAG, pictures
from streamlit.testing.v1 import AppTest

from genmodels.data import load_dataset
from genmodels.setup import Setup
from genmodels.training.loop import Training
from genmodels.training.snapshot import Snapshot

SMALL = {"g_hidden": "16", "d_hidden": "16", "depth": "2", "channels": "4"}


@pytest.fixture
def app(open_app):
    return lambda **query: open_app(**{**SMALL, **query})


def step_of(at: AppTest) -> int:
    text = next(m.value for m in at.markdown if m.value.startswith("**step "))
    return int(text.split()[1].rstrip("*"))


def wait_for_step(at: AppTest, step: int, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        at.run()
        if step_of(at) == step:
            return
        time.sleep(0.2)
    raise AssertionError(f"still at step {step_of(at)}, wanted {step}")


def test_mixture_shows_critic_d_star_manifold_timeline_and_mode_meter(app):
    at = app(data="8gaussians", model="nsgan")
    at.run()
    assert not at.exception
    titles = pictures(at)
    assert len(titles) == 4  # critic with arrows, D*, manifold, timeline
    assert any("optimal D(x)" in t for t in titles)
    assert "modes covered (≥1 sample within 3σ)" in meter(at) and "high-quality samples" in meter(at)


def meter(at: AppTest) -> str:
    """The mode meter's text (one html element)."""
    return next(html.unescape(TAG.sub(" ", h.proto.body)) for h in at.get("html") if "mode-meter" in h.proto.body)


def modes(text: str) -> str:
    return re.search(r"(\d+)\s*/\s*(\d+)", text.split("modes covered")[1]).group(0).replace(" ", "")


def test_every_panel_shows_the_step_the_run_is_on_after_step_g_and_agrees_with_the_meter(app):
    """Paused runs show their exact step: each caption says it, the timeline starts at this step's samples
    (not the last recorded G step), and its mode count is the meter's."""
    at = app(data="8gaussians", model="nsgan")
    at.run()
    assert pictures(at) and all(c.startswith("step 0 · ") for c in pictures(at))
    at.button(key="step_D").click().run()
    wait_for_step(at, 1)
    at.button(key="step_G").click().run()
    wait_for_step(at, 2)
    captions = pictures(at)
    assert all(c.startswith("step 2 · ") for c in captions), captions
    timeline = next(c for c in captions if "samples (red) vs data (blue)" in c)
    assert "at this step" in timeline and "the samples of step 2" in meter(at)
    assert re.search(r"(\d+/\d+) modes", timeline).group(1) == modes(meter(at))
    assert not at.exception


def test_step_d_then_step_g_say_which_network_moved(app):
    at = app(data="ring8", model="wgan-gp")
    at.run()
    at.button(key="step_D").click().run()
    wait_for_step(at, 1)
    assert any("**D** only" in c.value for c in at.caption)
    at.button(key="step_G").click().run()
    wait_for_step(at, 2)
    assert any("**G** only" in c.value for c in at.caption) and not at.exception


def test_wasserstein_on_moons_has_no_d_star_but_draws(app):
    at = app(data="moons", model="wgan")
    at.run()
    assert not at.exception and len(pictures(at)) == 3
    assert any("no known density p" in c.value for c in at.caption)  # says why there is no D* panel


def test_digits_show_a_fixed_z_grid_and_the_timeline(app):
    at = app(data="digits", model="lsgan")
    at.run()
    assert not at.exception and len(pictures(at)) == 2


def page(shown, data, setup):  # an AppTest script: the GAN view of whatever snapshot `shown` holds
    from playground.views import gan

    gan.draw(shown["snap"], data, setup)


BUILDERS = ("critic_picture", "manifold_picture", "timeline_picture", "image_tiles", "timeline_tiles")


@pytest.mark.parametrize("data_name, model, names", [
    ("8gaussians", "nsgan", ("gan_critic", "gan_dstar", "gan_manifold", "gan_timeline_plot")),
    ("digits", "lsgan", ("gan_images", "gan_timeline_images"))])
def test_pictures_made_by_the_host_are_sent_as_they_are_and_the_timeline_draws_on_the_page(
        monkeypatch, data_name, model, names):
    """After one round the samples differ from the timeline's step-0 entry, so the timeline has a slider: at
    its default the page sends the host's PNGs, byte for byte what it draws from the plain visuals, and
    builds nothing; an entry back is drawn on the page."""
    from playground.pictures import gan, render

    setup, data = Setup.from_query({"data": data_name, "model": model, **SMALL}), load_dataset(data_name, 0)
    run = Training(lambda: setup.build_model(data), data, setup.train, device="cpu")
    run.run(1)
    v = run.visuals()
    hosted = render(v, data, setup)
    assert set(hosted) == {f"png:{name}" for name in names}
    drawn = AppTest.from_function(page, args=({"snap": Snapshot(step=1, visuals=v, visuals_step=1)}, data, setup),
                                  default_timeout=60).run()
    calls = Counter()
    for name in BUILDERS:
        build = getattr(gan, name)
        monkeypatch.setattr(gan, name, lambda *a, _b=build, _n=name, **k: calls.update([_n]) or _b(*a, **k))
    shown = {"snap": Snapshot(step=1, visuals=v | hosted, visuals_step=1)}
    at = AppTest.from_function(page, args=(shown, data, setup), default_timeout=60).run()
    assert not at.exception and calls == {}
    sent = [png for h in at.get("html") for png in PNG.findall(h.proto.body)]
    assert sent == [base64.b64encode(hosted[f"png:{name}"].tobytes()).decode() for name in names]
    assert sent == [png for h in drawn.get("html") for png in PNG.findall(h.proto.body)]
    at.slider(key="gan_timeline").set_value(-1).run()  # the step-0 entry, which the host did not draw
    assert calls == {"timeline_tiles" if data.is_image else "timeline_picture": 1}
