"""Read Fashion-MNIST from the Debian package `dataset-fashion-mnist` (IDX files, MIT licence)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

ROOT = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle_boot"]


def load(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N,28,28], labels uint8 [N]) of the 'train' or 't10k' split."""
    prefix = "train" if split == "train" else "t10k"
    images = ROOT / f"{prefix}-images-idx3-ubyte.gz"
    labels = ROOT / f"{prefix}-labels-idx1-ubyte.gz"
    if not images.exists():
        raise SystemExit(f"{images} not found: install the Debian package dataset-fashion-mnist")
    with gzip.open(images) as fh:
        x = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(labels) as fh:
        y = np.frombuffer(fh.read(), np.uint8, offset=8)
    return x, y
