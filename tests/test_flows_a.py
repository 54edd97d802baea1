"""Planar, radial and Sylvester flows; target energies and their safe parser; the reverse-KL objective."""

import math

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian

from genmodels.cli import main
from genmodels.config import TrainConfig, build_config
from genmodels.data import load_dataset
from genmodels.data.energy import ENERGIES, Target, mesh, parse_energy, u1
from genmodels.errors import UserError
from genmodels.evaluation.metrics import evaluate
from genmodels.hosting.trainer import Trainer
from genmodels.models import MODELS
from genmodels.models.flows import sylvester
from genmodels.models.flows.planar import Planar
from genmodels.models.flows.radial import Radial
from genmodels.models.flows.sylvester import Sylvester
from genmodels.setup import Setup

FLOWS = ["planar", "radial", "sylvester"]
# (objective, dimension): maximum likelihood inverts the closed form, reverse KL keeps it; d > 2 exercises
# radial's (d - 1) factor and Sylvester's back-substitution over several coordinates.
ORIENTATIONS = [("ml", 2), ("ml", 5), ("reverse_kl", 2)]


def build(name: str, objective: str = "ml", dim: int = 2, layers: int = 3, **settings):
    cls = MODELS[name]
    return cls(cls.Config(objective=objective, layers=layers, **settings), dim)


def train(name: str, steps: int, lr: float = 1e-2, data: str = "moons", **settings) -> Trainer:
    trainer = Trainer(lambda: build(name, **settings), load_dataset(data), TrainConfig(steps=steps, lr=lr),
                      device="cpu", visual_interval=None)
    trainer.run(steps)
    return trainer


def grid_mass(flow, half_width: float = 10.0, n: int = 300) -> float:
    """∫ exp(log p) by the midpoint rule over [-half_width, half_width]², in float64."""
    axis = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    with torch.no_grad():
        p = flow.double().log_prob(mesh(axis)).exp()
    flow.float()
    return float(p.sum() * (axis[1] - axis[0]) ** 2)


# -- the layers ----------------------------------------------------------------------------------
def autograd_log_det(f, points: torch.Tensor) -> torch.Tensor:
    """log |det ∂f/∂p| per point from the full autograd Jacobian of f (batch in, batch out)."""
    return torch.stack([torch.linalg.slogdet(jacobian(lambda p: f(p[None])[0][0], p)).logabsdet for p in points])


@pytest.mark.parametrize("objective,dim", ORIENTATIONS)
@pytest.mark.parametrize("name", FLOWS)
def test_each_layer_log_det_is_log_abs_det_of_autograd_jacobian_both_ways(name, objective, dim):
    torch.manual_seed(1)
    flow = build(name, objective, dim).double()
    z = 1.5 * torch.randn(5, dim, dtype=torch.float64)
    for t in flow.transforms:
        x, log_det = t(z)
        torch.testing.assert_close(log_det, autograd_log_det(t, z), rtol=1e-5, atol=1e-8)
        z_back, log_det_back = t.inverse(x)
        torch.testing.assert_close(log_det_back, autograd_log_det(t.inverse, x), rtol=1e-5, atol=1e-8)
        torch.testing.assert_close(z_back, z, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(log_det_back, -log_det, rtol=1e-9, atol=1e-9)
        z = x


@pytest.mark.parametrize("name", FLOWS)
def test_root_solved_direction_reaches_1e6_in_float32(name):
    torch.manual_seed(2)
    flow = build(name, layers=16)
    with torch.no_grad():
        z = torch.randn(2000, 2)
        x, log_det = flow.from_base(z)  # maximum likelihood: the generative direction is the root solve
        exact, _ = flow.double().to_base(x.double())
    assert (z.double() - exact).abs().max() < 1e-4  # 1e-6 per layer, 16 layers of float32 rounding


@torch.no_grad()
def constraint_margin(t) -> float:
    """How far the layer is from losing invertibility (must stay > 0)."""
    if isinstance(t, Planar):
        return float(t.w @ t.u_hat() + 1)  # wᵀû > -1
    if isinstance(t, Radial):
        alpha, beta = t.alpha_beta()
        return float(alpha + beta)  # β > -α
    _, r, r_tilde = t.factors()
    return float((r.diagonal() * r_tilde.diagonal() + 1).min())  # R̃_ii R_ii > -1


@pytest.mark.parametrize("name", FLOWS)
def test_invertibility_constraint_holds_after_training_with_a_large_learning_rate(name):
    trainer = train(name, steps=60, lr=0.5, layers=4)
    flow = trainer.model
    for t in flow.transforms:
        assert constraint_margin(t.transform) > 0
    with torch.no_grad():
        x = torch.as_tensor(load_dataset("moons").test[:500])
        z, log_det = flow.to_base(x)
        x_back, log_det_back = flow.from_base(z)
    assert torch.isfinite(log_det).all()
    torch.testing.assert_close(x_back, x, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("objective", ["ml", "reverse_kl"])
@pytest.mark.parametrize("name", FLOWS)
def test_density_integrates_to_one_at_random_init(name, objective):
    torch.manual_seed(3)
    assert grid_mass(build(name, objective, layers=8)) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("name", FLOWS)
def test_density_integrates_to_one_after_200_steps_on_moons(name):
    trainer = train(name, steps=200, layers=8)
    nll = trainer.snapshot().history["nll"][:, 1]
    assert nll[-1] < nll[0]
    assert grid_mass(trainer.model) == pytest.approx(1.0, abs=0.02)


# -- energies and their parser -------------------------------------------------------------------
PAPER = {  # Rezende & Mohamed (2015), Table 1, typed as a user would
    "U1": "0.5*((sqrt(x1**2 + x2**2) - 2)/0.4)**2 - log(exp(-0.5*((x1 - 2)/0.6)**2) + exp(-0.5*((x1 + 2)/0.6)**2))",
    "U2": "0.5*((x2 - sin(2*pi*x1/4))/0.4)**2",
    "U3": "-log(exp(-0.5*((x2 - sin(2*pi*x1/4))/0.35)**2)"
          " + exp(-0.5*((x2 - sin(2*pi*x1/4) + 3*exp(-0.5*((x1 - 1)/0.6)**2))/0.35)**2))",
    "U4": "-log(exp(-0.5*((x2 - sin(2*pi*x1/4))/0.4)**2)"
          " + exp(-0.5*((x2 - sin(2*pi*x1/4) + 3/(1 + exp(-(x1 - 1)/0.3)))/0.35)**2))",
}


@pytest.mark.parametrize("name", list(ENERGIES))
def test_parsed_paper_formula_matches_builtin_energy(name):
    x = 3 * torch.rand(500, 2, dtype=torch.float64) * 2 - 3
    torch.testing.assert_close(parse_energy(PAPER[name])(x), ENERGIES[name](x), rtol=1e-10, atol=1e-10)


def test_builtin_energies_at_points_worked_by_hand():
    x = torch.tensor([[2.0, 0.0], [1.0, 1.0], [0.0, 0.4]], dtype=torch.float64)
    # U1 at (2, 0): on the ring, the x1 = 2 bump is exp(0), the other exp(-22.2): U1 = -log(1 + e^-22.2)
    assert float(u1(x[:1])) == pytest.approx(-math.log1p(math.exp(-0.5 * (4 / 0.6) ** 2)), abs=1e-12)
    # U2 on the wave x2 = sin(pi x1 / 2): zero at (1, 1); one sigma off at (0, 0.4): 1/2
    torch.testing.assert_close(ENERGIES["U2"](x[1:]), torch.tensor([0.0, 0.5], dtype=torch.float64))


@pytest.mark.parametrize("text,expected", [
    ("x1**2 + x2**2", lambda a, b: a**2 + b**2),
    ("0.5 * (x**2 + 4*y**2)", lambda a, b: 0.5 * (a**2 + 4 * b**2)),
    ("-logaddexp(-(x1 - 1)**2, -(x1 + 1)**2) + x2**2/2",
     lambda a, b: -torch.logaddexp(-(a - 1)**2, -(a + 1)**2) + b**2 / 2),
    ("abs(x1) + max(x2, -x2) + min(1, 2) + atan2(x2, 1.5) + tanh(x1) * sigmoid(x2) + e - pi + 1e-3",
     lambda a, b: a.abs() + b.abs() + 1 + torch.atan2(b, torch.full_like(b, 1.5)) + torch.tanh(a) * torch.sigmoid(b)
     + math.e - math.pi + 1e-3),
    ("  3  ", lambda a, b: torch.full_like(a, 3.0)),
])
def test_parser_accepts_arithmetic_of_whitelisted_functions(text, expected):
    x = torch.randn(100, 2, dtype=torch.float64)
    torch.testing.assert_close(parse_energy(text)(x), expected(x[:, 0], x[:, 1]))


BAD = [
    "__import__('os').system('echo pwned')",  # a call of something not whitelisted
    "x1.__class__.__mro__",  # attribute access
    "(lambda: 1)()",  # lambda
    "x1[0]",  # subscript
    "[x1 for x1 in (1, 2)]",  # comprehension
    "open('/etc/passwd')",  # unknown function
    "exec('1')",
    "eval('x1')",
    "'x1'",  # a string constant
    "x1 if x2 > 0 else 0",  # conditional, comparison
    "x1 ^ 2",  # not a power
    "exp(x1, x2)",  # wrong number of arguments
    "exp(x=x1)",  # keyword
    "exp(*x1)",  # starred
    "(y := 2)",  # walrus
    "x3 + 1",  # unknown variable
    "x1 +",  # syntax
    "",  # empty
    "x1; x2",  # two statements
    "True",  # not a number
    "9**9**9**9",  # not finite
    "log(x1)",  # nan for x1 < 0
    "-x1**4",  # exp(-U) not integrable
    "(" * 200 + "x1" + ")" * 200,  # too long
]


@pytest.mark.parametrize("text", BAD)
def test_parser_refuses_anything_but_whitelisted_arithmetic(text):
    with pytest.raises(UserError, match="energy|expression"):
        Target(text)


def test_bad_target_is_a_user_error_in_config_and_share_url():
    cls = MODELS["planar"].Config
    with pytest.raises(UserError, match="attribute"):
        build_config(cls, {"target": "x1.real"})
    setup, problems = Setup.parse({"model": "planar", "objective": "reverse_kl", "target": "__import__('os')"})
    assert setup.model_config.target == "U1" and any("__import__" in p for p in problems)
    good = Setup.from_query({"model": "radial", "objective": "reverse_kl", "target": "x1**2/2 + x2**2/2"})
    assert Setup.from_query(good.to_query()) == good


def test_log_normaliser_of_a_standard_gaussian_energy_is_log_two_pi():
    assert Target("(x1**2 + x2**2) / 2").log_z == pytest.approx(math.log(2 * math.pi), abs=1e-4)


# -- reverse KL ----------------------------------------------------------------------------------
def test_reverse_kl_metrics_vanish_when_the_flow_is_the_target():
    """RealNVP starts as the identity, so q = N(0, I) = p for the Gaussian energy (up to the far wall)."""
    model = MODELS["realnvp"](MODELS["realnvp"].Config(objective="reverse_kl", target="(x1**2 + x2**2)/2"), 2)
    metrics = evaluate(model, load_dataset("moons"))
    assert "test_nll" not in metrics
    assert metrics["reverse_kl"] == pytest.approx(0.0, abs=1e-3)
    assert metrics["ess"] == pytest.approx(1.0, abs=1e-3)


def test_reverse_kl_fit_of_u1_puts_samples_in_the_ring():
    """Under p, 91% of the mass has U1 < 2 (quadrature); under N(0, I), 24%."""
    torch.manual_seed(0)
    before = build("planar", "reverse_kl", layers=16)
    trainer = train("planar", steps=400, objective="reverse_kl", target="U1", layers=16)
    loss = trainer.snapshot().history["loss"][:, 1]
    assert loss[-1] < loss[0] - 1
    model = trainer.model
    with torch.no_grad():
        in_ring = float((u1(model.sample(5000)) < 2).float().mean())
    assert in_ring > 0.8
    data = load_dataset("moons")
    assert evaluate(model, data)["reverse_kl"] < evaluate(before, data)["reverse_kl"]
    assert grid_mass(model, half_width=6.0) == pytest.approx(1.0, abs=0.02)


def test_reverse_kl_visuals_show_target_and_model_on_the_target_box():
    trainer = Trainer(lambda: build("radial", "reverse_kl", target="U1"), load_dataset("moons"),
                      TrainConfig(steps=3), device="cpu", visual_interval=0.0)
    trainer.run(3)
    v = trainer.snapshot().visuals
    assert v["grid_x"][0] == -4 and v["grid_x"][-1] == 4
    cell = (v["grid_x"][1] - v["grid_x"][0]) ** 2
    assert v["target_log_density"].shape == v["log_density"].shape == (len(v["grid_x"]) ** 2,)
    assert np.exp(v["target_log_density"].astype(np.float64)).sum() * cell == pytest.approx(1.0, abs=0.02)


def test_reverse_kl_needs_two_dimensions():
    with pytest.raises(UserError, match="2D"):
        build("planar", "reverse_kl", dim=64)


def test_cli_trains_reverse_kl_and_reports_it(train_json, capsys):
    argv = ["--model", "planar", "--steps", "3", "--layers", "2", "--objective", "reverse_kl"]
    out = train_json(*argv, "--target", "U1")
    assert {"reverse_kl", "ess"} <= set(out) and "test_nll" not in out
    assert main(["train", *argv, "--target", "__import__('os')"]) == 2
    err = capsys.readouterr().err
    assert "__import__" in err and err.count("\n") == 1


def test_sylvester_q_is_orthogonal():
    q, _, _ = Sylvester(5, reflections=3).double().factors()
    torch.testing.assert_close(q @ q.T, torch.eye(5, dtype=torch.float64))


@pytest.mark.parametrize("edge", [False, True])
def test_sylvester_newton_and_back_substitution_find_the_same_root_and_gradients(edge):
    """The two inverses of a Sylvester layer (whole-vector Newton, 1D solves from the last coordinate)
    agree on the root and on its implicit-function gradients, also near the edge of invertibility
    (R_ii R̃_ii = -tanh(2)² ≈ -0.93, where 1D Newton needs its bisection safeguard)."""
    torch.manual_seed(4)
    layer = Sylvester(6, reflections=3).double()
    if edge:
        with torch.no_grad():
            layer.r_diag.fill_(2.0)
            layer.r_tilde_diag.fill_(-2.0)
            layer.r_raw.mul_(5)
    x = 2 * torch.randn(7, 6, dtype=torch.float64, requires_grad=True)

    def root_and_gradients(solve):
        q, r, r_tilde = layer.factors()
        v = solve(x @ q, r, r_tilde)
        return v, torch.autograd.grad(v.sin().sum(), [x, *layer.parameters()])

    v_newton, g_newton = root_and_gradients(layer.newton)
    v_back, g_back = root_and_gradients(layer.back_substitution)
    torch.testing.assert_close(v_newton, v_back, rtol=1e-10, atol=1e-10)
    for a, b in zip(g_newton, g_back):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)
    x_back, _ = layer(v_newton.detach() @ layer.factors()[0].T)
    torch.testing.assert_close(x_back, x.detach(), rtol=1e-10, atol=1e-10)


def test_sylvester_inverse_falls_back_to_back_substitution_when_newton_stops_short(monkeypatch):
    monkeypatch.setattr(sylvester, "NEWTON_STEPS", 1)
    torch.manual_seed(5)
    layer = Sylvester(4, reflections=2).double()
    with torch.no_grad():
        layer.r_diag.fill_(1.0)  # far enough from the identity that one Newton step is not the root
        z = torch.randn(9, 4, dtype=torch.float64)
        x, log_det = layer(z)
        q, r, r_tilde = layer.factors()
        assert layer.newton(x @ q, r, r_tilde) is None
        z_back, log_det_back = layer.inverse(x)
    torch.testing.assert_close(z_back, z, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(log_det_back, -log_det, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", [n for n, cls in MODELS.items() if cls.family == "flow"])
def test_every_flow_fits_by_reverse_kl(name):
    """The objective is shared by all flows: a finite free energy whose gradient reaches every parameter."""
    cls = MODELS[name]
    torch.manual_seed(0)
    model = cls(cls.Config(objective="reverse_kl", target="U4"), 2)
    model.init_from_data(torch.randn(256, 2))
    losses = model.loss(torch.zeros(64, 2))
    assert torch.isfinite(losses["loss"]) and losses["loss"] == losses["energy"] - losses["entropy"]
    losses["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
