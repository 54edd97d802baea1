"""LeCun's IDX files for the data tests, written in a test's tmp_path: one file's bytes, or a fake
$GENMODELS_DATA/mnist folder of them."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from genmodels.data.images import IDX_FILES


def idx_bytes(dims: tuple[int, ...], body: bytes | None = None, magic: bytes | None = None) -> bytes:
    """An IDX file of unsigned bytes of these sizes: the header (`magic`, default the right one), then `body`
    (default: as many zeros as the sizes promise)."""
    header = (magic or bytes([0, 0, 8, len(dims)])) + struct.pack(f">{len(dims)}I", *dims)
    return header + (bytes(int(np.prod(dims))) if body is None else body)


def write_mnist(root: Path, images: bytes, labels: bytes) -> None:
    """root/mnist holding these images and labels files as both its train and its test split."""
    folder = root / "mnist"
    folder.mkdir()
    for images_name, labels_name in IDX_FILES.values():
        (folder / images_name).write_bytes(images)
        (folder / labels_name).write_bytes(labels)


def fake_mnist(root: Path, n: int = 12) -> None:
    """root/mnist: n random 28x28 images labelled 0, ..., n - 1, the same in train and test."""
    pixels = np.random.default_rng(0).integers(0, 256, n * 784, dtype=np.uint8).tobytes()
    write_mnist(root, idx_bytes((n, 28, 28), pixels), idx_bytes((n,), bytes(range(n))))
