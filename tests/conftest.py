"""Shared fixtures: small real images written with PIL/OpenCV, and offline Ultralytics settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from yolocls.core.offline import ensure_offline_env

ensure_offline_env()
os.environ.setdefault("YOLOCLS_WEIGHTS_DIR", "/nonexistent-yolocls-weights")

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "datasets" / "sample"


def noise_image(seed: int, size: tuple[int, int] = (48, 40), mode: str = "RGB") -> Image.Image:
    """A distinct random image (different seeds never look alike)."""
    rng = np.random.default_rng(seed)
    w, h = size
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB").convert(mode) if mode != "RGB" else Image.fromarray(arr, "RGB")


def class_image(label_index: int, seed: int, size: int = 40) -> Image.Image:
    """An easily learnable image: a class colour, a random bright square, and noise (distinct per seed)."""
    rng = np.random.default_rng(seed)
    palette = [(220, 40, 40), (40, 200, 60), (40, 60, 220), (230, 200, 40), (160, 40, 200), (40, 200, 200)]
    arr = np.tile(np.array(palette[label_index % len(palette)], dtype=np.int16), (size, size, 1))
    arr = arr + rng.integers(-40, 41, arr.shape)
    y, x = rng.integers(0, size - 12, 2)
    arr[y : y + 12, x : x + 12] = 255 - arr[y : y + 12, x : x + 12]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


@pytest.fixture
def make_class_folders(tmp_path: Path) -> Callable[..., Path]:
    """Folder-per-class source with `per_class` distinct JPEGs per class."""

    def make(classes: tuple[str, ...] = ("cat", "dog", "fox"), per_class: int = 12, root: Path | None = None,
             seed: int = 0) -> Path:
        root = root or tmp_path / "src"
        for ci, name in enumerate(classes):
            d = root / name
            d.mkdir(parents=True, exist_ok=True)
            for k in range(per_class):
                noise_image(seed * 100_000 + ci * 1000 + k).save(d / f"{name}_{k:03d}.jpg", quality=90)
        return root

    return make


@pytest.fixture
def learnable_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared, easily learnable dataset (3 classes x 30 images) for training tests."""
    return make_learnable_dataset(tmp_path_factory.mktemp("learnable"))


def make_learnable_dataset(base: Path, classes: tuple[str, ...] = ("red", "green", "blue"),
                           per_class: int = 30) -> Path:
    from yolocls.data.prepare import PrepareOptions, prepare_dataset

    src = base / "src"
    for ci, name in enumerate(classes):
        (src / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            class_image(ci, ci * 1000 + k).save(src / name / f"{k:03d}.png")
    out = base / "data"
    prepare_dataset(PrepareOptions(source=src, out=out, split="0.6,0.2,0.2", progress=False))
    return out


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real tiny training run (CPU, imgsz 32) shared by report/export/serve tests."""
    from yolocls.training.runner import TrainOptions, train

    base = tmp_path_factory.mktemp("trained")
    data = make_learnable_dataset(base, per_class=30)
    run_dir, record = train(TrainOptions(data=data, epochs=8, imgsz=32, batch=8, device="cpu", pretrained=False,
                                         runs_dir=base / "runs", name="tiny", quiet=True, report=False,
                                         set=["warmup_epochs=0"], aug="none"))
    assert record.status == "completed"
    return run_dir


@pytest.fixture(scope="session")
def exported_run(trained_run: Path) -> Path:
    """The tiny run exported to ONNX (with its parity check)."""
    from yolocls.export import ExportOptions, export_model

    record = export_model(ExportOptions(run_dir=trained_run))
    assert record.parity.passed
    return trained_run
