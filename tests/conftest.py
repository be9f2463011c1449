"""Shared fixtures: small real images written with PIL/OpenCV, and offline Ultralytics settings."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import make_learnable_dataset, noise_image
from tests.postgres import Postgres
from yolocls.core.offline import ensure_offline_env

ensure_offline_env()
os.environ.setdefault("YOLOCLS_WEIGHTS_DIR", "/nonexistent-yolocls-weights")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A real PostgreSQL server for the session (started when a test asks for it)."""
    server = Postgres().start()
    yield server
    server.stop()






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
