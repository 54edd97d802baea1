"""Every model trains, draws its pictures, scores and moves its state on a CUDA device; "auto" picks it for images.

CI has no GPU: there the CUDA tests skip, saying so. On a GPU machine they are what `make test` adds.
"""

import math

import pytest
import torch

from genmodels.config import TrainConfig
from genmodels.data import load_dataset
from genmodels.device import pick_device
from genmodels.evaluation.metrics import measure
from genmodels.models import MODELS
from genmodels.setup import Setup
from genmodels.training.loop import Training

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")

CASES = [("moons", name) for name in MODELS] + [("mnist5k", name) for name in ("glow", "vae", "nsgan", "realnvp")]


def training(data_name: str, model: str, device: str) -> Training:
    data = load_dataset(data_name, 0)
    setup = Setup(data=data_name, model=model, train=TrainConfig(steps=1000, batch_size=64, seed=0))
    return Training(lambda: setup.build_model(data), data, setup.train, device=device)


@needs_cuda
@pytest.mark.parametrize("data_name, model", CASES)
def test_a_model_trains_and_scores_on_cuda(data_name, model):
    run = training(data_name, model, "cuda")
    assert run.train(20), run.message
    assert next(run.model.parameters()).device.type == "cuda"
    pictures = run.visuals()
    assert pictures and not any(isinstance(v, torch.Tensor) for v in pictures.values())  # numpy, for the page
    metrics = measure(run.model, run.data)
    assert metrics and all(math.isfinite(v) for v in metrics.values() if isinstance(v, float)), metrics


@needs_cuda
@pytest.mark.parametrize("model", ["realnvp", "vae", "nsgan", "flow-matching"])
def test_a_cuda_run_starts_from_the_cpu_runs_weights_and_resumes_from_its_cpu_state(model):
    """The weights come from the run's CPU init stream on any device; a CUDA run's state is CPU copies, and a
    fresh run restored from it, on CUDA or on the CPU, holds the same weights and goes on.

    What starts from the data (a VAE's output bias, the diffusion prior's mean and covariance) is reduced on
    the run's device, so it agrees to float32 rounding only."""
    on_gpu, on_cpu = training("moons", model, "cuda"), training("moons", model, "cpu")
    for k, v in on_cpu.weights().items():
        torch.testing.assert_close(on_gpu.weights()[k], v)
    assert on_gpu.train(10)
    state = on_gpu.state()
    assert all(v.device.type == "cpu" for v in state["weights"].values())
    for device in ("cuda", "cpu"):  # a GPU node, or a Ray node without one (its batches: a stream of seed and step)
        resumed = training("moons", model, device)
        resumed.restore(state)
        assert all(torch.equal(resumed.weights()[k], v) for k, v in on_gpu.weights().items())
        assert resumed.train(5) and resumed.step == 15


@needs_cuda
def test_the_same_seed_on_cuda_gives_the_same_losses():
    first, second = (training("moons", "realnvp", "cuda") for _ in range(2))
    for run in (first, second):
        assert run.train(30)
    losses = [run.history.curves["loss"].means for run in (first, second)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_auto_trains_2d_points_on_the_cpu_and_images_on_the_gpu(monkeypatch):
    """A 2D model's step is launch-bound: "auto" keeps it on the CPU even where a GPU is (`pick_device`)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto", points=True) == torch.device("cpu")
    assert pick_device("auto") == pick_device(None) == torch.device("cuda")
    assert pick_device("cuda", points=True) == torch.device("cuda")  # asked for by name: that device
    assert training("moons", "realnvp", None).device == torch.device("cpu")
