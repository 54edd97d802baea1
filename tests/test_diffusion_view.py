"""The diffusion and energy views in the app (AppTest, no browser): their pictures, the time slider, no plotly."""


import base64
from collections import Counter

import numpy as np
import pytest
from app_helpers import PNG, picture_images, pictures
from streamlit.testing.v1 import AppTest

from genmodels.data import load_dataset
from genmodels.models import MODELS
from genmodels.setup import Setup
from genmodels.training.loop import Training
from genmodels.training.snapshot import Snapshot

RED = (214, 39, 40)  # playground.pictures.common.MODEL_COLOUR
BUILDERS = ("samples_picture", "paths_picture", "forward_picture", "field_picture", "energy_picture")


@pytest.fixture
def app(open_app):
    return open_app


@pytest.mark.parametrize("model,panels", [
    ("flow-matching", ["samples (red) vs data", "trajectories from noise to data", "noised data (blue)",
                       "learned velocity"]),
    ("ddpm", ["samples (red) vs data", "trajectories from noise to data", "noised data (blue)", "learned score"]),
    ("score", ["samples (red) vs data", "trajectories from noise to data", "noised data (blue)", "learned score"]),
    ("ebm", ["samples (red) vs data", "trajectories from noise to data", "energy E(x), Langevin chains at",
             "learned score -∇E at every step"]),
])
def test_view_draws_its_pictures_and_follows_the_slider(app, model, panels):
    at = app(data="8gaussians", model=model, hidden="16")
    at.run()
    assert not at.exception
    captions = pictures(at)
    assert len(captions) == len(panels) and not at.get("plotly_chart")  # server-drawn PNGs only
    for caption, panel in zip(captions, panels):
        assert panel in caption
    model_class = MODELS[model]
    slider = at.slider(key="diffusion_level")
    assert slider.value == slider.max  # the data end first
    before = [np.asarray(p) for p in picture_images(at)]
    assert len({p.shape for p in before}) == 1  # one fixed size for every panel
    assert all((p == RED).all(-1).sum() > 20 for p in before)  # every panel shows the model's points in red
    slider.set_value(0).run()
    assert not at.exception
    assert any(c.value.startswith(f"{model_class.time_label} = ") for c in at.caption)
    after = [np.asarray(p) for p in picture_images(at)]
    assert pictures(at)[:2] == captions[:2] and all(np.array_equal(a, b) for a, b in zip(after[:2], before[:2]))
    assert not np.array_equal(after[2], before[2])  # the level's panel moved to the noise end


def page(shown, data, setup):  # an AppTest script: the diffusion view of whatever snapshot `shown` holds
    from playground.views import diffusion

    diffusion.draw(shown["snap"], data, setup)


@pytest.fixture
def builds(monkeypatch):
    """Count the calls of the picture builders the diffusion view uses."""
    from playground.pictures import diffusion

    calls = Counter()
    for name in BUILDERS:
        build = getattr(diffusion, name)
        monkeypatch.setattr(diffusion, name, lambda *a, _b=build, _n=name, **k: calls.update([_n]) or _b(*a, **k))
    return calls


@pytest.mark.parametrize("model,level", [("ddpm", "forward"), ("ebm", "energy")])
def test_pictures_made_by_the_host_are_sent_as_they_are_and_the_slider_draws_on_the_page(builds, model, level):
    """A redraw of visuals carrying `render`'s PNGs builds nothing: the page sends the host's bytes; a level
    the host did not draw (the slider off the data end) is drawn on the page."""
    from playground.pictures import render

    setup = Setup.from_query({"data": "8gaussians", "model": model, "hidden": "16"})
    data = load_dataset("8gaussians", 0)
    v = Training(lambda: setup.build_model(data), data, setup.train, device="cpu").visuals()
    hosted = render(v, data, setup)
    builds.clear()  # those were the host's
    shown = {"snap": Snapshot(step=10, visuals=v | hosted, visuals_step=10)}
    at = AppTest.from_function(page, args=(shown, data, setup), default_timeout=60)
    at.run()
    assert not at.exception and builds == {}
    sent = [png for h in at.get("html") for png in PNG.findall(h.proto.body)]
    names = ("diffusion_samples", "diffusion_paths", f"diffusion_{level}", "diffusion_field")  # in page order
    assert set(hosted) == {f"png:{name}" for name in names}
    assert sent == [base64.b64encode(hosted[f"png:{name}"].tobytes()).decode() for name in names]
    at.slider(key="diffusion_level").set_value(0).run()  # the noise end, which the host did not draw
    assert not at.exception and builds == {f"{level}_picture": 1, "field_picture": 1}
