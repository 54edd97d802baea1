"""The dataset interface: fixed train/test arrays plus what is known about the density."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .toy2d import GaussianMixture


@dataclass(frozen=True, eq=False)
class Dataset:
    """Samples as float32 rows (N, D); images are flattened and `shape` restores them.

    `log_prob`, `mixture` and `entropy` are set where the data density is known
    exactly; metrics (mode coverage, JS, optimal discriminator, entropy gap) use them.
    `levels` is the number of discrete pixel values of an image set (for
    dequantisation and bits per dimension).
    """

    name: str
    kind: str  # "dataset-2d" or "dataset-image"
    train: np.ndarray
    test: np.ndarray
    shape: tuple[int, ...]
    train_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    log_prob: Callable[[np.ndarray], np.ndarray] | None = None
    mixture: GaussianMixture | None = None
    entropy: float | None = None
    levels: int | None = None

    @property
    def dim(self) -> int:
        return self.train.shape[1]

    @property
    def is_image(self) -> bool:
        return self.kind == "dataset-image"


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry: how to load a dataset for a seed, without loading it to list it.

    `seeded` is False for data that are the same for every seed (fixed files with a fixed
    train/test split), so that a cache keyed on `data_seed` holds one copy of them. `load` takes
    the seed, and for data read from files (`reads_files`) also the folder that holds them.
    """

    kind: str
    load: Callable[..., Dataset]
    about: str
    seeded: bool = True
    reads_files: bool = False

    def data_seed(self, seed: int) -> int:
        """The seed the data depend on: the run's seed, or 0 for data that do not depend on it."""
        return seed if self.seeded else 0
