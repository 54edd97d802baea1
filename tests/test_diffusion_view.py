"""The diffusion and energy views in the app (AppTest, no browser): their panels, the time slider, no WebGL."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "playground" / "app.py")


@pytest.fixture
def app():
    apps = []

    def make(**query):
        at = AppTest.from_file(APP, default_timeout=120)
        for k, v in query.items():
            at.query_params[k] = v
        apps.append(at)
        return at

    yield make
    for at in apps:
        if "run" in at.session_state:
            at.session_state["run"].trainer.close()


def titles(at: AppTest) -> list[str]:
    return [c.proto.spec for c in at.get("plotly_chart")]


@pytest.mark.parametrize("model,panels", [
    ("flow-matching", ["samples (red) vs data", "trajectories from noise to data", "noised data (blue)",
                       "learned velocity"]),
    ("ddpm", ["samples (red) vs data", "trajectories from noise to data", "noised data (blue)", "learned score"]),
    ("score", ["samples (red) vs data", "trajectories from noise to data", "noised data (blue)", "learned score"]),
    ("ebm", ["samples (red) vs data", "trajectories from noise to data", "energy E(x), Langevin chains at",
             "learned score"]),
])
def test_view_draws_its_panels_without_webgl_and_follows_the_slider(app, model, panels):
    at = app(data="8gaussians", model=model, hidden="16")
    at.run()
    assert not at.exception
    specs = titles(at)
    assert len(specs) == len(panels)
    for spec, panel in zip(specs, panels):
        assert panel in spec
    assert not any("scattergl" in spec for spec in specs)
    slider = at.slider(key="diffusion_level")
    assert slider.value == slider.max  # the data end first
    slider.set_value(0).run()
    assert not at.exception
    assert any(c.value.startswith(f"{at.session_state['run'].trainer.model.time_label} = ") for c in at.caption)
