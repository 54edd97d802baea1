"""Laws every registered flow must obey on 2D data, in one parametrised test per law.

- log |det ∂z/∂x| of `to_base` equals log |det| of the autograd Jacobian (float64, rtol 1e-5);
- inverse(forward(z)) ≈ z;
- ∫ exp(log p) over a wide grid ≈ 1 ± 0.02, at random parameters and after 200 training steps.
Models are built small (4 layers, width 32, where they have those fields) to keep this fast.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from flow_checks import autograd_log_det, grid_integral, randomise

from genmodels.config import TrainConfig
from genmodels.data import load_dataset
from genmodels.models import MODELS
from genmodels.models.flow import run_forward
from genmodels.train import Trainer

FLOWS = sorted(name for name, cls in MODELS.items() if cls.family == "flow")
SMALL = {"layers": 4, "hidden": 32}
# Round-trip tolerance where a model's inverse is iterative; each entry says why.
ROUND_TRIP_ATOL: dict[str, float] = {}


def small_flow(name: str, dtype=torch.float64):
    cls = MODELS[name]
    names = {f.name for f in dataclasses.fields(cls.Config)}
    torch.manual_seed(0)
    return cls(cls.Config(**{k: v for k, v in SMALL.items() if k in names}), 2).to(dtype)


@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", 0)


@pytest.mark.parametrize("name", FLOWS)
def test_log_det_matches_autograd_jacobian(name):
    flow = randomise(small_flow(name), 0.2)
    x = 1.5 * torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    _, log_det = flow.to_base(x)
    torch.testing.assert_close(log_det, autograd_log_det(flow.to_base, x), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", FLOWS)
def test_inverse_undoes_forward(name):
    flow = randomise(small_flow(name), 0.2)
    z = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    x, log_det_forward = run_forward(flow.transforms, z)
    z_back, log_det_inverse = flow.to_base(x)
    atol = ROUND_TRIP_ATOL.get(name, 1e-8)
    torch.testing.assert_close(z_back, z, rtol=0, atol=atol)
    torch.testing.assert_close(log_det_inverse, -log_det_forward, rtol=0, atol=max(atol, 1e-8))


@pytest.mark.parametrize("name", FLOWS)
def test_density_integrates_to_one_at_random_parameters(name):
    flow = randomise(small_flow(name), 0.1)
    assert grid_integral(flow.log_prob) == pytest.approx(1, abs=0.02)


@pytest.mark.parametrize("name", FLOWS)
def test_density_integrates_to_one_after_training(name, moons):
    trainer = Trainer(lambda: small_flow(name, torch.float32), moons, TrainConfig(steps=200), visual_interval=None)
    snap = trainer.run(200)
    assert snap.status == "done"
    assert snap.history["loss"][-1, 1] < snap.history["loss"][0, 1]
    assert grid_integral(trainer.model.double().log_prob) == pytest.approx(1, abs=0.02)
