"""The diffusion and energy views in the app (AppTest, no browser): their pictures, the time slider, no plotly."""


import numpy as np
import pytest
from app_helpers import picture_images, pictures

from genmodels.models import MODELS

RED = (214, 39, 40)  # playground.common.MODEL_COLOUR


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
