"""Fashion-MNIST from the Debian package `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist): the
benchmarks' real images, written as PNG folders `yolocls prepare` reads."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
from PIL import Image

FMNIST = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]


def require() -> None:
    if not FMNIST.is_dir():
        sys.exit(f"no {FMNIST}: apt install dataset-fashion-mnist")


def idx(name: str) -> np.ndarray:
    """One IDX file: labels (N,) or images (N, 28, 28)."""
    with gzip.open(FMNIST / name) as f:
        data = f.read()
    if name.endswith("idx1-ubyte.gz"):
        return np.frombuffer(data, np.uint8, offset=8)
    return np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28)


def split(which: str) -> tuple[np.ndarray, np.ndarray]:
    """("train" | "test") -> (images, labels): 60,000 or the official 10,000 test images."""
    prefix = "train" if which == "train" else "t10k"
    return idx(f"{prefix}-images-idx3-ubyte.gz"), idx(f"{prefix}-labels-idx1-ubyte.gz")


def write_pngs(out: Path, images: np.ndarray, labels: np.ndarray, picks: dict[int, np.ndarray]) -> None:
    """`picks[class]` = indices into images: written as out/<class name>/<index>.png."""
    for ci, chosen in picks.items():
        folder = out / CLASSES[ci]
        folder.mkdir(parents=True, exist_ok=True)
        for i in chosen:
            assert labels[i] == ci
            Image.fromarray(images[i], "L").save(folder / f"{i:05d}.png")
