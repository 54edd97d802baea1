"""The diffusion and energy models through the project's trainer, CLI, setup and checkpoint."""

import json

import numpy as np
import pytest
import safetensors.torch
import torch

from genmodels.checkpoint import load, save
from genmodels.config import TrainConfig
from genmodels.data import load_dataset
from genmodels.errors import UserError
from genmodels.evaluation.metrics import sliced_wasserstein
from genmodels.hosting.trainer import Trainer
from genmodels.models import MODELS
from genmodels.models.averaging import update_average
from genmodels.models.diffusion.base import ARROW_FRACTION, LEVELS, N_PATHS, N_SAMPLES
from genmodels.setup import Setup

DIFFUSION = [name for name, cls in MODELS.items() if cls.family == "diffusion"]
SMALL = {"hidden": 64}
SEEDS = (0, 1, 2)


def trainer(name: str, steps: int, seed: int = 0, data: str = "8gaussians", **settings) -> Trainer:
    dataset = load_dataset(data, seed)
    setup = Setup(data, name, MODELS[name].Config(**settings), TrainConfig(steps=steps, seed=seed, lr=2e-3))
    t = Trainer(lambda: setup.build_model(dataset), dataset, setup.train, device="cpu", visual_interval=None)
    t.run(steps)
    return t


def test_the_family_is_registered():
    assert DIFFUSION == ["flow-matching", "ddpm", "score"]
    assert MODELS["ebm"].family == "energy"


def held_out_loss(model, data) -> float:
    """The training loss over the test set in training-size batches, with fixed noise and times: before and
    after are comparable."""
    model.use_rng(torch.Generator().manual_seed(123))
    with torch.no_grad():
        return float(np.mean([float(model.loss(b)["loss"]) for b in torch.as_tensor(data.test).split(256)]))


@pytest.mark.parametrize("name,settings,steps", [
    ("flow-matching", {}, 300), ("flow-matching", {"ot": True}, 150), ("ddpm", {}, 300),
    ("ddpm", {"schedule": "cosine"}, 300), ("score", {}, 300),
])
def test_held_out_loss_falls_in_a_few_hundred_steps_on_8gaussians_for_every_seed(name, settings, steps):
    data = load_dataset("8gaussians")
    for seed in SEEDS:
        before = held_out_loss(trainer(name, 0, seed, **SMALL, **settings).model, data)
        after = held_out_loss(trainer(name, steps, seed, **SMALL, **settings).model, data)
        assert after < 0.9 * before, (seed, before, after)


def test_ebm_learns_low_energy_on_the_data_and_samples_move_towards_it():
    """Contrastive divergence has no falling objective; what it learns: E lower on held-out data than on the
    empty centre of the ring, and samples nearer the data (sliced Wasserstein) than the untrained model's."""
    for seed in SEEDS:
        untrained, trained = trainer("ebm", 0, seed, **SMALL, chain_steps=10), trainer("ebm", 150, seed, **SMALL,
                                                                                        chain_steps=10)
        data = load_dataset("8gaussians", seed)
        test = torch.as_tensor(data.test[:1000])
        with torch.no_grad():
            centre = trained.model.energy(torch.zeros(1, 2))
            assert float(trained.model.energy(test).median()) < float(centre)
        torch.manual_seed(seed)
        swd = [sliced_wasserstein(data.test, t.model.sample(1000).numpy().astype(np.float64))
               for t in (untrained, trained)]
        assert swd[1] < swd[0], (seed, swd)


@pytest.mark.parametrize("name", [*DIFFUSION, "ebm"])
def test_visuals_hold_samples_trajectories_and_the_field_at_each_level(name):
    t = trainer(name, 5, **SMALL)
    v = t.model.visuals(t.training.grid)
    assert v["samples"].shape == (N_SAMPLES, 2) and np.isfinite(v["samples"]).all()
    frames = len(v["path_t"])
    assert v["paths"].shape == (frames, N_PATHS, 2) and frames >= 2
    assert v["reverse"].shape == (LEVELS, N_PATHS, 2) and v["level_t"].shape == (LEVELS,)
    np.testing.assert_array_equal(v["paths"][-1], v["samples"][:N_PATHS])  # the trajectories end at the samples
    assert v["field"].shape[1:] == v["arrows_x"].shape == (256, 2)
    if name == "ebm":
        assert v["field"].shape[0] == 1 and v["energy"].shape == (len(t.training.grid),)
    else:
        assert v["field"].shape[0] == LEVELS and v["forward"].shape == (LEVELS, N_PATHS, 2)
    check_arrow_tips(v, t.training.grid.numpy())


def check_arrow_tips(v: dict[str, np.ndarray], grid: np.ndarray) -> None:
    """Each arrow points along the field; the longest 10% at each level are drawn at the cap, the rest shorter
    in proportion to the field (so a capped arrow is the 90th-percentile length or longer)."""
    step = v["arrow_tips"] - v["arrows_x"]
    length, norm = np.linalg.norm(step, axis=-1), np.linalg.norm(v["field"], axis=-1)
    cap = ARROW_FRACTION * (grid[:, 0].max() - grid[:, 0].min())
    cosine = (step * v["field"]).sum(-1) / np.maximum(length * norm, 1e-12)
    assert np.all(cosine > 1 - 1e-4) and np.all(length <= cap * (1 + 1e-5))
    for level_length, level_norm in zip(length, norm):
        typical = np.percentile(level_norm, 90)
        np.testing.assert_allclose(level_length, cap * np.minimum(level_norm / typical, 1), rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("name", DIFFUSION)
def test_log_prob_is_finite_and_the_same_in_any_batching(name, monkeypatch):
    model = trainer(name, 50, **SMALL, nll_steps=8).model
    x = torch.as_tensor(load_dataset("8gaussians").test[:300])
    whole = model.log_prob(x)
    monkeypatch.setattr("genmodels.models.diffusion.base.LOG_PROB_BATCH", 64)
    torch.testing.assert_close(model.log_prob(x), whole, rtol=1e-5, atol=1e-5)
    assert torch.isfinite(whole).all()


@pytest.mark.parametrize("name", [*DIFFUSION, "ebm"])
def test_cli_trains_each_model_and_reports_test_nll_and_test_elbo_where_it_has_them(name, train_json):
    result = train_json("--data", "8gaussians", "--model", name, "--steps", "20", "--hidden", "32", "--device", "cpu")
    assert result["model"] == name and result["steps"] == 20 and "swd" in result
    assert ("test_nll" in result) == (name != "ebm")
    assert "test_nll" not in result or np.isfinite(result["test_nll"])
    assert ("test_elbo" in result) == (name == "ddpm")  # Ho et al.'s bound, the ancestral sampler's
    assert "test_elbo" not in result or np.isfinite(result["test_elbo"])


@pytest.mark.parametrize(("name", "settings"), [*((n, SMALL) for n in [*DIFFUSION, "ebm"]),
                                                 ("flow-matching", {**SMALL, "ema": 0.0, "x_frequencies": 3})])
def test_weights_round_trip_through_a_checkpoint(name, settings, tmp_path):
    t = trainer(name, 5, **settings)
    setup = Setup("8gaussians", name, MODELS[name].Config(**settings))
    save(str(tmp_path / "run.safetensors"), t.model.state_dict(), setup, 5)
    model, loaded, _, _ = load(str(tmp_path / "run.safetensors"))
    assert loaded == setup
    assert model.state_dict().keys() == t.model.state_dict().keys()
    for key, value in t.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    if getattr(setup.model_config, "ema", 0) > 0:
        assert int(model.ema_updates) == 5  # a resumed run's average goes on from step 5, not from 0


@pytest.mark.parametrize("name", [*DIFFUSION, "nsgan"])
def test_a_file_saved_before_the_average_was_the_default_loads_as_the_run_it_was(name, tmp_path):
    """Such a file names no `ema` and holds no average: it was trained with ema 0 and shows its own weights."""
    setup = Setup("8gaussians", name, MODELS[name].Config(ema=0.0))
    before = setup.build_model(setup.load_data())
    query = {k: v for k, v in setup.to_query().items() if k != "ema"}  # what the old default wrote
    path = tmp_path / "old.safetensors"
    safetensors.torch.save_file(before.state_dict(), str(path), metadata={"genmodels": "1", "setup": json.dumps(query)})
    assert Setup.from_query(query).model_config.ema > 0  # today the same query means an average
    model, loaded, _, _ = load(str(path))
    assert loaded == setup and getattr(model, MODELS[name].averaged) is None
    for key, value in before.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)


@pytest.mark.parametrize("name", DIFFUSION)
def test_the_moving_average_follows_its_rule_and_is_what_the_model_shows(name):
    """θ̄_1 = β_1 θ_0 + (1 - β_1) θ_1 with β_1 = min(β, 2/11); the field and the likelihood use θ̄, the loss θ."""
    torch.manual_seed(0)
    model = MODELS[name](MODELS[name].Config(**SMALL, ema=0.9, nll_steps=4), 2)
    theta_0 = {k: v.clone() for k, v in model.net.state_dict().items()}
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.after_step("model")
    beta_1 = min(0.9, 2 / 11)
    for key, now in model.net.state_dict().items():
        torch.testing.assert_close(model.net_ema.state_dict()[key], beta_1 * theta_0[key] + (1 - beta_1) * now)
    x = torch.randn(16, 2)
    shown = model.log_prob(x)
    model.net_ema.load_state_dict(model.net.state_dict())  # θ̄ = θ: now the trained weights are what is shown
    assert torch.isfinite(shown).all() and not torch.allclose(model.log_prob(x), shown)
    loss = model.loss(x)["loss"]
    loss.backward()
    assert all(p.grad is None for p in model.net_ema.parameters())
    assert all(p.grad is not None for p in model.net.parameters())


@pytest.mark.parametrize("name", [*DIFFUSION, "ebm"])
def test_image_data_is_refused_with_a_clear_message(name):
    with pytest.raises(UserError, match="2D points"):
        MODELS[name](MODELS[name].Config(), 64, (1, 8, 8))


def test_noise_ladder_upside_down_is_a_user_error():
    with pytest.raises(UserError, match="sigma_min"):
        Setup.from_query({"model": "score", "sigma_min": "5", "sigma_max": "1"})


@pytest.mark.parametrize("name", [*DIFFUSION, "ebm"])
def test_model_settings_do_not_shadow_training_settings(name):
    """Settings share one flat namespace (share URL, CLI flags): a model field named like a training one
    could never be set apart from it."""
    model_fields = set(MODELS[name].Config.__dataclass_fields__)
    assert not model_fields & set(TrainConfig.__dataclass_fields__)


@pytest.mark.parametrize("k", [1, 3, 10_000])
def test_the_average_is_the_same_with_its_count_on_the_device_or_in_python(k):
    torch.manual_seed(0)
    net, in_python, on_device = (torch.nn.Linear(3, 2) for _ in range(3))
    on_device.load_state_dict(in_python.state_dict())
    before = in_python.weight.detach().clone()
    update_average(in_python, net, 0.99, k)
    update_average(on_device, net, 0.99, torch.tensor(k))
    torch.testing.assert_close(on_device.state_dict(), in_python.state_dict())
    beta_k = min(0.99, (1 + k) / (10 + k))
    torch.testing.assert_close(in_python.weight, beta_k * before + (1 - beta_k) * net.weight.detach())
