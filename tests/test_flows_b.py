"""MADE, the gated autoregressive layer, MAF/IAF, NSF, ActNorm, the LU 1x1 convolution and Glow.

Every exact quantity is checked against an independent computation in float64: log-dets
against autograd Jacobians, the gate against the MADE outputs, ActNorm against sample moments,
the LU determinant against slogdet, the spline against its own values at its knots.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from flow_checks import autograd_log_det, randomise

from genmodels.config import TrainConfig
from genmodels.errors import UserError
from genmodels.hosting.trainer import Trainer
from genmodels.models.flows.actnorm import ActNorm
from genmodels.models.flows.flow import Inverse
from genmodels.models.flows.glow import Glow, GlowConfig, Prefix, Squeeze, coupling_net, glow_step
from genmodels.models.flows.inv1x1 import InvertibleConv1x1
from genmodels.models.flows.made import MADE, GatedAutoregressive
from genmodels.models.flows.nsf import SplineCoupling, knots, rational_quadratic
from genmodels.models.flows.realnvp import AffineCoupling
from genmodels.models.nets import mlp
from genmodels.setup import Setup

F64 = torch.float64
ORDER = torch.tensor([2, 0, 3, 1])


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


TRANSFORMS = {
    "gated (IAF layer)": lambda: GatedAutoregressive(ORDER, 16),
    "inverted gated (MAF layer)": lambda: Inverse(GatedAutoregressive(ORDER, 16)),
    "actnorm": lambda: ActNorm((4,)),
    "actnorm image": lambda: ActNorm((2, 2, 1)),
    "1x1 conv vector": lambda: InvertibleConv1x1((4,)),
    "1x1 conv image": lambda: InvertibleConv1x1((2, 1, 2)),
    "spline coupling": lambda: SplineCoupling(torch.tensor([1.0, 0, 1, 0]), 16, 2, bins=5, bound=2.0),
    "conv affine coupling": lambda: AffineCoupling(torch.tensor([1.0, 1, 0, 0]), coupling_net((2, 1, 2), 8, 2)),
    "squeeze": lambda: Squeeze((1, 2, 2)),
    "glow scale": lambda: Prefix(glow_step((2, 1, 1), 8, 1), 2),
}


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transform_log_det_matches_autograd_jacobian(name):
    t = randomise(TRANSFORMS[name]().to(F64), 0.3)
    z = 2 * torch.randn(5, 4, dtype=F64, generator=gen(0))  # wide enough to reach the spline's tails
    x, log_det = t(z)
    torch.testing.assert_close(log_det, autograd_log_det(t, z), rtol=1e-5, atol=1e-8)
    _, log_det_inverse = t.inverse(x)
    torch.testing.assert_close(log_det_inverse, autograd_log_det(t.inverse, x), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transform_inverse_undoes_forward(name):
    t = randomise(TRANSFORMS[name]().to(F64), 0.3)
    z = 2 * torch.randn(50, 4, dtype=F64, generator=gen(1))
    torch.testing.assert_close(t.inverse(t(z)[0])[0], z, rtol=0, atol=1e-9)


# -- MADE and the gate ------------------------------------------------------------------------


@pytest.mark.parametrize("context", [0, 3])
def test_made_output_depends_only_on_earlier_inputs(context):
    made = MADE(ORDER, hidden=12, depth=3, outputs=2, context=context).to(F64)
    rank = torch.empty(4, dtype=torch.long)
    rank[ORDER] = torch.arange(4)
    c = torch.randn(1, context, dtype=F64) if context else None
    for row in torch.randn(5, 4, dtype=F64, generator=gen(2)):
        jac = torch.autograd.functional.jacobian(lambda v: made(v[None], c)[0], row)  # (outputs, D, D)
        later_or_same = rank[None, :] >= rank[:, None]  # [i, j]: x_j is not before x_i
        assert (jac[:, later_or_same] == 0).all()
        assert jac[:, ~later_or_same].abs().sum() > 0  # and the allowed connections exist


def test_made_context_reaches_every_output_after_the_first_in_order():
    made = MADE(ORDER, hidden=32, depth=2, context=3).to(F64)
    x = torch.randn(10, 4, dtype=F64, generator=gen(7))
    jac = torch.autograd.functional.jacobian(lambda c: made(x, c.expand(10, 3)), torch.randn(1, 3, dtype=F64))
    reaches = jac.abs().sum((0, -1, -2)) > 0  # (outputs, D), over 10 inputs (a ReLU may be off for one)
    first = ORDER[0]
    assert not reaches[:, first].any() and reaches[:, ORDER[1:]].all()


def test_gated_log_det_is_sum_of_log_sigma_and_the_jacobian_diagonal_is_sigma():
    g = randomise(GatedAutoregressive(ORDER, 16).to(F64), 0.5)
    u = torch.randn(5, 4, dtype=F64, generator=gen(3))
    s, m = g.gate_and_shift(u)
    sigma = torch.sigmoid(s)
    y, log_det = g(u)
    torch.testing.assert_close(log_det, sigma.log().sum(-1))
    torch.testing.assert_close(y, sigma * u + (1 - sigma) * m)
    for row, s in zip(u, sigma):
        jac = torch.autograd.functional.jacobian(lambda v: g(v[None])[0][0], row)
        torch.testing.assert_close(jac.diagonal(), s)
    # MAF: the same gate, computed from x, in the density direction
    _, log_det_density = Inverse(g).inverse(u)
    torch.testing.assert_close(log_det_density, log_det)


def test_gated_layer_starts_near_identity_and_contracts_by_the_gate_bias():
    g = GatedAutoregressive(ORDER, 16, gate_bias=2.0).to(F64)
    u = torch.randn(3, 4, dtype=F64)
    torch.testing.assert_close(g(u)[0], torch.sigmoid(torch.tensor(2.0, dtype=F64)) * u)


# -- ActNorm and the 1x1 convolution ------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3,), (3, 4, 2)])
def test_actnorm_data_init_standardises_each_channel(shape):
    layer = ActNorm(shape).to(F64)
    d = math.prod(shape)
    x = 3 * torch.randn(500, d, dtype=F64, generator=gen(4)) - 7 + torch.arange(d, dtype=F64)
    layer.init_from_data(x)
    z, _ = layer.inverse(x)
    per_channel = z.view(500, shape[0], -1).transpose(0, 1).reshape(shape[0], -1)
    torch.testing.assert_close(per_channel.mean(1), torch.zeros(shape[0], dtype=F64), atol=1e-10, rtol=0)
    torch.testing.assert_close(per_channel.std(1), torch.ones(shape[0], dtype=F64))


def test_glow_init_from_data_standardises_what_reaches_each_actnorm():
    glow = Glow(GlowConfig(layers=3, hidden=8), 2).to(F64)
    x = torch.randn(400, 2, dtype=F64, generator=gen(5)) * torch.tensor([3.0, 0.2], dtype=F64) + 5
    glow.init_from_data(x)
    for t in reversed(glow.transforms):
        if isinstance(t, ActNorm):
            out, _ = t.inverse(x)
            torch.testing.assert_close(out.mean(0), torch.zeros(2, dtype=F64), atol=1e-10, rtol=0)
            torch.testing.assert_close(out.std(0), torch.ones(2, dtype=F64))
        x, _ = t.inverse(x)


@pytest.mark.parametrize("shape", [(3,), (3, 2, 5)])
def test_lu_log_det_equals_slogdet_of_w(shape):
    conv = randomise(InvertibleConv1x1(shape).to(F64), 0.3)
    w = conv.weight()
    positions = math.prod(shape[1:])
    z = torch.randn(4, math.prod(shape), dtype=F64)
    _, log_det = conv(z)
    torch.testing.assert_close(log_det, positions * torch.linalg.slogdet(w)[1].expand(4))
    # and it is the same matrix at every pixel
    x, _ = conv(z)
    pixels = lambda v: v.view(4, shape[0], -1)  # noqa: E731
    torch.testing.assert_close(pixels(x), torch.einsum("ij,njp->nip", w, pixels(z)))


# -- the rational-quadratic spline --------------------------------------------------------------


def random_spline(n: int, bins: int = 6, seed: int = 6):
    g = gen(seed)
    return (
        torch.randn(n, bins, dtype=F64, generator=g),
        torch.randn(n, bins, dtype=F64, generator=g),
        torch.randn(n, bins - 1, dtype=F64, generator=g),
    )


def test_spline_is_monotone_with_positive_slope_and_identity_tails():
    bound = 3.0
    x = torch.linspace(-5, 5, 4001, dtype=F64)
    params = [p.expand(len(x), -1) for p in random_spline(1)]
    y, log_det = rational_quadratic(x, *params, bound)
    assert (y.diff() > 0).all()
    outside = x.abs() >= bound
    torch.testing.assert_close(y[outside], x[outside])
    slope = torch.autograd.functional.jacobian(lambda v: rational_quadratic(v, *params, bound)[0].sum(), x)
    torch.testing.assert_close(log_det, slope.log())


def test_spline_is_continuous_in_value_and_slope_at_every_knot():
    bound, eps = 3.0, 1e-9
    widths, heights, derivatives = random_spline(1)
    _, xk = knots(widths, bound)
    x_knots = xk[0]  # −B, the interior knots, B
    params = [p.expand(len(x_knots), -1) for p in (widths, heights, derivatives)]
    below, log_slope_below = rational_quadratic(x_knots - eps, *params, bound)
    above, log_slope_above = rational_quadratic(x_knots + eps, *params, bound)
    torch.testing.assert_close(below, above, atol=1e-7, rtol=0)
    torch.testing.assert_close(log_slope_below, log_slope_above, atol=1e-6, rtol=0)
    _, yk = knots(heights, bound)
    torch.testing.assert_close(rational_quadratic(x_knots, *params, bound)[0], yk[0])  # knots map to knots


def test_spline_coupling_starts_as_the_identity():
    layer = SplineCoupling(torch.tensor([1.0, 0.0]), 8, 2, bins=4, bound=3.0).to(F64)
    z = 2 * torch.randn(20, 2, dtype=F64)
    x, log_det = layer(z)
    # up to the float32 rounding of the initial derivative parameter
    torch.testing.assert_close(x, z, atol=1e-6, rtol=0)
    torch.testing.assert_close(log_det, torch.zeros(20, dtype=F64), atol=1e-6, rtol=0)


def test_spline_coupling_loads_weights_saved_when_its_net_saw_the_masked_input():
    """Older checkpoints: the net saw v·mask and set a spline of every dimension, kept only where mask = 0."""
    torch.manual_seed(0)
    mask, bins, bound = torch.tensor([1.0, 0, 1, 0]), 5, 2.0
    old_net = mlp(4, 4 * (3 * bins - 1), 16, 2)
    z = 1.5 * torch.randn(64, 4)
    params = old_net(z * mask).view(64, 4, 3 * bins - 1).split([bins, bins, bins - 1], -1)
    y, log_det_each = rational_quadratic(z, *params, bound)
    expected_x, expected_log_det = z * mask + y * (1 - mask), (log_det_each * (1 - mask)).sum(-1)
    layer = SplineCoupling(mask, 16, 2, bins, bound)
    layer.load_state_dict({"mask": mask, **{f"net.{k}": v for k, v in old_net.state_dict().items()}})
    x, log_det = layer(z)
    torch.testing.assert_close(x, expected_x)
    torch.testing.assert_close(log_det, expected_log_det)


# -- images: dequantisation, Glow's scales, bits per dimension ------------------------------------


@pytest.fixture(scope="module")
def digits_setup():
    setup = Setup.from_query(
        {
            "data": "digits",
            "model": "glow",
            "layers": "2",
            "hidden": "16",
            "depth": "1",
            "batch_size": "32",
            "steps": "100",
        }
    )
    return setup, setup.load_data()


def test_dequantisation_cells_give_back_the_grey_levels(digits_setup):
    setup, data = digits_setup
    model = setup.build_model(data)
    x = torch.as_tensor(data.test[:50])
    y = model.dequantise(x)
    assert model.levels == 17 and ((y >= 0) & (y < 1)).all()
    torch.testing.assert_close(model.quantise(y), x)


def test_glow_squeeze_and_split_keep_every_pixel(digits_setup):
    setup, data = digits_setup
    model = randomise(setup.build_model(data).to(F64), 0.05)
    assert [tuple(s) for s in model.latent_shapes] == [(2, 4, 4), (8, 2, 2)]
    y = model.dequantise(torch.as_tensor(data.test[:3], dtype=F64))
    z, log_det = model.to_base(y)
    x = model.transform_stages(z)[-1]
    torch.testing.assert_close(x, y, atol=1e-9, rtol=0)
    torch.testing.assert_close(log_det[:1], autograd_log_det(model.to_base, y[:1]), rtol=1e-5, atol=1e-8)


def test_glow_on_digits_learns_and_reports_bits_per_dim(digits_setup):
    setup, data = digits_setup
    trainer = Trainer(lambda: setup.build_model(data), data, setup.train, visual_interval=None)
    snap = trainer.run(100)
    loss = snap.history["loss"][:, 1]
    assert snap.status == "done" and loss[-5:].mean() < loss[:5].mean() - 10
    metrics = trainer.model.metrics(torch.as_tensor(data.test))
    assert np.isfinite(metrics["test_bpd"])
    assert metrics["test_bpd"] == pytest.approx((metrics["test_nll"] / 64 + math.log(17)) / math.log(2))
    visuals = trainer.model.visuals(None)
    assert visuals["samples"].shape == (64, 8, 8) and set(np.unique(visuals["samples"] * 16)) <= set(range(17))
    torch.testing.assert_close(torch.as_tensor(visuals["latent_image"]).flatten(), torch.as_tensor(data.test[0]))
    assert visuals["latent_0"].shape == (2, 4, 4) and visuals["latent_1"].shape == (8, 2, 2)


def test_glow_refuses_more_squeezes_than_the_side_allows():
    with pytest.raises(UserError, match="at most 2"):
        Glow(GlowConfig(scales=3), 784, (1, 28, 28))


def test_realnvp_and_maf_on_digits_have_finite_bits_per_dim(digits_setup):
    _, data = digits_setup
    for name in ("realnvp", "maf"):
        setup = Setup.from_query({"data": "digits", "model": name, "layers": "2", "hidden": "16", "steps": "5"})
        trainer = Trainer(lambda s=setup: s.build_model(data), data, TrainConfig(steps=5), visual_interval=None)
        trainer.run(5)
        assert np.isfinite(trainer.model.metrics(torch.as_tensor(data.test))["test_bpd"])
        assert trainer.model.visuals(None)["samples"].shape == (64, 8, 8)


# -- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model,data",
    [
        ("maf", "moons"),
        ("iaf", "moons"),
        ("nsf", "moons"),
        ("glow", "moons"),
        ("glow", "digits"),
        ("realnvp", "digits"),
        ("maf", "digits"),
    ],
)
def test_cli_trains_each_flow(model, data, train_json):
    result = train_json("--model", model, "--data", data, "--steps", "2", "--layers", "1", "--hidden", "8")
    assert np.isfinite(result["test_nll"])
    assert (data == "digits") == ("test_bpd" in result)


def test_app_shows_glow_samples_and_the_latent_of_each_scale():
    from pathlib import Path

    from app_helpers import pictures
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "playground" / "app.py"), default_timeout=120)
    app.query_params.update({"data": "digits", "model": "glow", "layers": "1", "hidden": "8"})
    try:
        app.run()
        assert not app.exception
        assert len(pictures(app)) == 4  # samples, the data image, the latents of two scales
    finally:
        if "run" in app.session_state:
            app.session_state["run"].trainer.close()
