"""The cosine learning-rate schedule: the closed form at every step, and blind to how steps are blocked."""

import math

import pytest
import torch

from genmodels.setup import Setup
from genmodels.training.loop import Training

STEPS, LR = 20, 0.01


def training(schedule: str) -> Training:
    setup = Setup.from_query({"data": "moons", "model": "realnvp", "layers": "2", "hidden": "8", "steps": str(STEPS),
                              "lr": str(LR), "lr_schedule": schedule})
    data = setup.load_data()
    return Training(lambda: setup.build_model(data), data, setup.train, device="cpu")


def test_each_step_trains_at_the_cosine_of_its_place_in_the_budget():
    t = training("cosine")
    for step in range(STEPS):
        t.train(1)  # trained step `step` at the rate below
        (group,) = t.optimizers["model"].param_groups
        assert group["lr"] == pytest.approx(LR * (1 + math.cos(math.pi * step / STEPS)) / 2, rel=1e-12)
    assert training("constant").optimizers["model"].param_groups[0]["lr"] == LR


def test_blocks_of_any_size_give_the_same_weights():
    whole, blocked = training("cosine"), training("cosine")
    whole.train(STEPS)
    for n in (3, 7, 10):
        blocked.train(n)
    for (name, a), b in zip(whole.model.state_dict().items(), blocked.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    constant = training("constant")
    constant.train(STEPS)
    assert not torch.equal(next(iter(constant.model.parameters())), next(iter(whole.model.parameters())))
