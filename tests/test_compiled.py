"""TrainConfig.compile: the compiled training step computes what the eager one does, and falls back when it can't."""

import gc
import time
import weakref

import pytest
import torch

from genmodels import cli
from genmodels.config import TrainConfig
from genmodels.data import load_dataset
from genmodels.hosting import trainer as train
from genmodels.hosting.limiter import Limiter
from genmodels.hosting.trainer import Trainer
from genmodels.models.flows.realnvp import RealNVPConfig
from genmodels.setup import Setup
from genmodels.training import compiled

MOONS = load_dataset("moons")
TINY = {"layers": 2, "hidden": 8}


def realnvp_trainer(compile: bool, steps: int = 20, **kw) -> Trainer:
    setup = Setup(data="moons", model="realnvp", model_config=RealNVPConfig(**TINY))
    return Trainer(lambda: setup.build_model(MOONS), MOONS,
                   TrainConfig(steps=steps, batch_size=32, seed=3, compile=compile), limiter=Limiter(1), **kw)


@pytest.fixture(scope="module")
def eager_and_compiled():
    """Both trained one step per chunk, so that their histories hold every step's loss."""
    eager, fast = realnvp_trainer(False, visual_interval=None), realnvp_trainer(True, visual_interval=None)
    for _ in range(20):
        a, b = eager.run(1), fast.run(1)
    return eager, fast, a, b


def test_compiled_loss_and_gradient_equal_the_eager_ones():
    model = realnvp_trainer(False).model
    x = torch.as_tensor(MOONS.train[:64])
    eager = model.loss(x)["loss"]
    (g_eager,) = torch.autograd.grad(eager, [model.transforms[0].scale])
    loss = compiled.CompiledLoss(model)
    fast = loss(x)["loss"]
    (g_fast,) = torch.autograd.grad(fast, [model.transforms[0].scale])
    assert loss.error is None
    torch.testing.assert_close(fast, eager, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_fast, g_eager, rtol=1e-4, atol=1e-6)


def test_compiling_keeps_the_runs_batches_and_weights(eager_and_compiled):
    """The warm-up compiles on a fixed batch, leaves the run's generator as it was and discards its gradients,
    so a compiled run takes the same batches and steps as the eager run of the same seed: same losses, same
    weights."""
    eager, fast, a, b = eager_and_compiled
    assert fast.training.loss.warm and fast.training.loss.error is None
    assert a.step == b.step == 20
    for (step_a, loss_a), (step_b, loss_b) in zip(a.history["loss"], b.history["loss"], strict=True):
        assert step_a == step_b and loss_b == pytest.approx(loss_a, rel=1e-4, abs=1e-5)
    for (name, p), q in zip(eager.model.named_parameters(), fast.model.parameters(), strict=True):
        torch.testing.assert_close(q, p, rtol=1e-3, atol=1e-5, msg=name)


def broken_compile(fn, **options):
    def call(*args):
        raise RuntimeError("no C++ compiler found\nlong traceback")
    return call


def test_a_failing_compiler_falls_back_to_eager_with_a_message(monkeypatch):
    monkeypatch.setattr(compiled.torch, "compile", broken_compile)
    t = realnvp_trainer(True)
    snap = t.run(5)
    assert snap.status == "done" and snap.step == 5
    assert t.compile_error.startswith("torch.compile failed (RuntimeError: no C++ compiler found)")
    assert "traceback" not in t.compile_error


def test_the_cli_says_when_it_trains_without_compiling(monkeypatch, capsys):
    monkeypatch.setattr(compiled.torch, "compile", broken_compile)
    result = cli.main(["train", "--data", "moons", "--model", "realnvp", "--steps", "3", "--layers", "2",
                       "--hidden", "8", "--compile", "1", "--json"])
    assert result == 0
    assert "note: torch.compile failed (RuntimeError: no C++ compiler found)" in capsys.readouterr().err


def test_the_background_worker_compiles_then_trains_and_a_closed_run_is_freed():
    t = realnvp_trainer(True, steps=30, visual_interval=None)
    t.start()
    end = time.monotonic() + 300
    while t.snapshot().status != "done" and time.monotonic() < end:
        time.sleep(0.05)
    snap = t.snapshot()
    assert snap.status == "done" and snap.step == 30 and snap.message != train.COMPILING
    model = weakref.ref(t.model)
    t.close()
    gc.collect()
    assert model() is None, "the compiled graph keeps a closed run's model alive"
