"""The image table of `python -m genmodels bench --images`: training images per second on MNIST-5k.

Each of IMAGE_MODELS (Glow, the convolutional VAE, the DCGAN-style non-saturating GAN) trains at its
defaults through `Training`, the loop the app's hosts run, at each batch size of `ImageBudget.batches`
on one device: `warm_up` untimed rounds (allocations, cuDNN's algorithm search), then rounds until
`seconds` have passed, the device synchronised before each clock read. A round is the model's
phases once (a GAN's `n_critic` critic steps and one generator step), so

    images/s = batch x rounds / seconds,

the images a round learns from, counted once (a GAN's critic steps see more when `n_critic` > 1).

Issue 17's target is 10,000 images/s on a GPU; on a CPU the table shows how far that is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..config import TrainConfig
from ..data import load_dataset
from ..device import pick_device
from ..hosting.limits import count_parameters
from ..setup import Setup
from ..training.loop import Training
from . import report
from .report import table

IMAGE_MODELS = ("glow", "vae", "nsgan")
DATA = "mnist5k"
TARGET = 10_000  # images/s on a GPU (issue 17)
HEADING = "## Image models: training images per second"


@dataclass(frozen=True)
class ImageBudget:
    batches: tuple[int, ...] = (128, 512)
    seconds: float = 5.0  # timed training of one (model, batch)
    warm_up: int = 5  # untimed rounds first
    models: tuple[str, ...] = IMAGE_MODELS


FULL = ImageBudget()
QUICK = ImageBudget(batches=(128,), seconds=2.0, warm_up=3)


def images_per_second(model: str, batch: int, device: torch.device, budget: ImageBudget) -> dict:
    """One (model, batch): its rounds/s and images/s over `budget.seconds` after the warm-up."""
    data = load_dataset(DATA, 0)
    setup = Setup(data=DATA, model=model, train=TrainConfig(steps=10**9, batch_size=batch, seed=0))
    run = Training(lambda: setup.build_model(data), data, setup.train, device=device)
    run.train(budget.warm_up)
    _synchronise(device)
    start, rounds = time.perf_counter(), 0
    while time.perf_counter() - start < budget.seconds:
        ok = run.train(budget.warm_up)
        _synchronise(device)
        rounds += budget.warm_up
        if not ok:
            break
    seconds = time.perf_counter() - start
    return {"kind": "images", "model": model, "data": DATA, "batch": batch, "device": str(device),
            "threads": torch.get_num_threads(), "params": count_parameters(lambda: setup.build_model(data)),
            "rounds_per_s": rounds / seconds, "images_per_s": batch * rounds / seconds, "status": run.status}


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_image_benchmarks(budget: ImageBudget = FULL, log: Callable[[str], None] = print,
                         device: str | None = None) -> list[dict]:
    """Every (model, batch) of `budget` on `device` (default: the best there is, `pick_device`)."""
    device, records = pick_device(device), []
    for model in budget.models:
        for batch in budget.batches:
            r = images_per_second(model, batch, device, budget)
            log(f"images bench: {model} batch {batch} on {device}: {r['images_per_s']:,.0f} images/s")
            records.append(r)
    return records


def markdown_section(records: list[dict], budget: ImageBudget) -> list[str]:
    header = ["model", "params", "device", "CPU threads", "batch", "rounds/s", "images/s", f"/ {TARGET:,}"]
    rows = [[r["model"], f"{r['params']:,}", r["device"], str(r["threads"]), str(r["batch"]),
             f"{r['rounds_per_s']:.1f}", f"{r['images_per_s']:,.0f}", f"{r['images_per_s'] / TARGET:.2f}"]
            for r in records]
    return [f"{HEADING} ({DATA})", "",
            f"`genmodels/bench/images.py`: each model at its defaults, trained by `Training` for {budget.seconds:g} s "
            f"after {budget.warm_up} untimed rounds; images/s = batch x rounds/s (a GAN's round: its critic "
            "steps and one generator step).", "", *table(header, rows)]


def write_section(path, lines: list[str]) -> None:
    report.write_section(path, lines, HEADING)
