"""Laws every registered flow obeys: exact log-dets (vs autograd Jacobians), inverses, normalisation."""

import numpy as np
import pytest
import torch

from genmodels.config import TrainConfig
from genmodels.data import load_dataset
from genmodels.hosting.trainer import Trainer
from genmodels.models import MODELS

FLOWS = [name for name, cls in MODELS.items() if cls.family == "flow"]


def make(name: str, dim: int = 2, dtype=torch.float64, scale: float = 0.1):
    """A flow with weights perturbed by N(0, scale²) (many flows start as the identity)."""
    cls = MODELS[name]
    model = cls(cls.Config(), dim).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))
    return model


def autograd_log_det(f, points: torch.Tensor) -> torch.Tensor:
    """log |det ∂f/∂x| per point, from the full Jacobian by autograd."""
    jac = [torch.autograd.functional.jacobian(lambda p: f(p[None])[0], p) for p in points]
    return torch.stack([torch.linalg.slogdet(j)[1] for j in jac])


@pytest.mark.parametrize("name", FLOWS)
def test_log_det_matches_autograd_jacobian(name):
    flow = make(name)
    x = torch.randn(16, 2, dtype=torch.float64) * 2
    _, log_det = flow.to_base(x)
    expected = autograd_log_det(lambda p: flow.to_base(p)[0], x)
    torch.testing.assert_close(log_det, expected, rtol=1e-5, atol=1e-8)
    z = torch.randn(16, 2, dtype=torch.float64)
    _, log_det_fwd = flow.from_base(z)
    torch.testing.assert_close(log_det_fwd, autograd_log_det(lambda p: flow.from_base(p)[0], z), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", FLOWS)
def test_inverse_of_forward_is_identity(name):
    flow = make(name)
    z = torch.randn(256, 2, dtype=torch.float64)
    x, log_det = flow.from_base(z)
    z_back, log_det_inv = flow.to_base(x)
    torch.testing.assert_close(z_back, z, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(log_det_inv, -log_det, rtol=1e-6, atol=1e-6)


def grid_mass(flow, half_width: float = 12.0, n: int = 300) -> float:
    """∫ p over [-w, w]² by a Riemann sum, plus P(x leaves the square) by sampling: 1 when p is normalised.

    The sampled part counts the far tails that a randomly perturbed flow can have.
    """
    g = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    xy = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)
    with torch.no_grad():
        p = torch.exp(flow.log_prob(xy.to(next(flow.parameters()).dtype))).double()
        outside = (flow.sample(20_000).abs() > half_width).any(-1).double().mean()
    return float(p.sum() * (g[1] - g[0]) ** 2 + outside)


@pytest.mark.parametrize("name", FLOWS)
def test_density_integrates_to_one_at_init_and_after_training(name):
    """Mass 1 before and after training. The perturbation is gentler than 0.1: a spline coupling whose net
    sees only the kept coordinate has fan-in 1, and N(0, 0.1²) on top of that makes knots no 300² grid resolves."""
    flow = make(name, dtype=torch.float32, scale=0.05)
    assert grid_mass(flow) == pytest.approx(1.0, abs=0.02)
    data = load_dataset("moons")
    cls = MODELS[name]
    trainer = Trainer(lambda: cls(cls.Config(), 2), data, TrainConfig(steps=200, batch_size=128), visual_interval=None)
    trainer.run(200)
    assert grid_mass(trainer.model) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("name", FLOWS)
def test_transform_stages_start_at_z_and_end_at_sample(name):
    flow = make(name, dtype=torch.float32)
    z = torch.randn(64, 2)
    stages = flow.transform_stages(z)
    torch.testing.assert_close(stages[0], z)
    torch.testing.assert_close(stages[-1], flow.from_base(z)[0])
    assert np.isfinite(flow.visuals(torch.zeros(4, 2))["log_density"]).all()


def box_grid(box, size: int) -> torch.Tensor:
    """The (size*size, 2) grid of a box row x0, x1, y0, y1, x varying fastest (as `stage_views` lays it out)."""
    gx = torch.linspace(float(box[0]), float(box[1]), size, dtype=torch.float64)
    gy = torch.linspace(float(box[2]), float(box[3]), size, dtype=torch.float64)
    return torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1).reshape(-1, 2)


@pytest.mark.parametrize("name", FLOWS)
def test_each_intermediate_density_integrates_to_one_and_the_last_is_the_model_density(name):
    """Fig. 6 as densities: p_0 is N(0, I) in closed form, every p_k has mass ~1 on its box (a Riemann sum on
    a finer grid than the picture's, of a gently perturbed flow: with 0.1 a spline flow's density has peaks
    and jumps no grid of this size resolves), and p_K is the model's log_prob."""
    flow, size = make(name, scale=0.03), 96
    with torch.no_grad():
        stages, _ = flow.stages_and_log_dets(flow.z_fixed)
        v = flow.stage_views(stages, size)
    assert v["stage_k"][0] == 0 and v["stage_k"][-1] == len(stages) - 1
    for box, log_p in zip(v["stage_box"], v["stage_log_density"]):
        cell = (box[1] - box[0]) * (box[3] - box[2]) / (size - 1) ** 2
        assert np.exp(log_p).sum() * cell == pytest.approx(1.0, abs=0.05)
    z = box_grid(v["stage_box"][0], size)
    normal = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    np.testing.assert_allclose(v["stage_log_density"][0], normal.numpy(), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        model = flow.log_prob(box_grid(v["stage_box"][-1], size))
    np.testing.assert_allclose(v["stage_log_density"][-1], model.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", FLOWS)
def test_the_log_det_picture_is_the_jacobians_and_the_layers_add_up(name):
    """log |det ∂z/∂x| on the grid vs autograd; the per-layer mean log-dets sum to the flow's mean log-det."""
    flow = make(name)
    grid = box_grid([-2, 2, -2, 2], 4)
    with torch.no_grad():
        v = flow.visuals(grid)
    expected = autograd_log_det(lambda p: flow.to_base(p)[0], grid)
    np.testing.assert_allclose(v["log_det"], expected.numpy(), rtol=1e-5, atol=1e-7)
    with torch.no_grad():
        total = flow.from_base(flow.z_fixed)[1].mean()
    assert v["layer_log_det"].sum() == pytest.approx(float(total), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("name", FLOWS)
def test_the_deformed_grid_starts_straight_and_ends_where_the_flow_maps_it(name):
    """Stage 0 of the grid is straight lines of constant z_2, then of constant z_1; stage K is g of them."""
    flow = make(name)
    with torch.no_grad():
        lines = flow.visuals(box_grid([-2, 2, -2, 2], 4))["grid_stages"]
    straight = lines[0]
    half = len(straight) // 2
    assert np.ptp(straight[:half, :, 1], axis=1).max() == 0 and np.ptp(straight[half:, :, 0], axis=1).max() == 0
    with torch.no_grad():
        mapped = flow.from_base(torch.as_tensor(straight.reshape(-1, 2)))[0].numpy()
    np.testing.assert_allclose(lines[-1].reshape(-1, 2), mapped, rtol=1e-5, atol=1e-6)
    assert len(lines) == len(flow.transforms) + 1
