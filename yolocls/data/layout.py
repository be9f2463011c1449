"""The prepared dataset's folder layout: split names, class folders, listing a split's images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yolocls.core.errors import DatasetError

SPLITS = ("train", "val", "test")
# Folder names a source may use for its splits (Ultralytics looks up val, validation, valid).
SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
# Ultralytics' IMG_FORMATS (ultralytics.data.utils), without importing Ultralytics.
IMAGE_SUFFIXES = {".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm", ".heic"}


def class_folder_mismatch(split_dir: Path, classes: list[str]) -> str | None:
    """None when split_dir holds exactly these class folders, else 'missing: [...], extra: [...]'."""
    found = {p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}
    missing, extra = sorted(set(classes) - found), sorted(found - set(classes))
    return f"missing: {missing or '-'}, extra: {extra or '-'}" if missing or extra else None


def check_class_folders(data: Path, classes: list[str]) -> None:
    """Every split must hold exactly the manifest's class folders: Ultralytics indexes each split's
    folders on its own, so a missing or extra class silently shifts the labels of the others."""
    for split in ("train", "val"):
        if not (data / split).is_dir():
            raise DatasetError(f"{data}: no {split}/ folder; re-run `yolocls prepare`")
    for split in SPLITS:
        if not (data / split).is_dir():
            continue
        mismatch = class_folder_mismatch(data / split, classes)
        if mismatch:
            raise DatasetError(f"{data / split}: class folders differ from manifest.json ({mismatch}); labels "
                               "would shift. Re-run `yolocls prepare`")


def choose_split(dataset: Path, split: str | None) -> str:
    """The split to evaluate on: the one asked for, else test when the dataset has it, else val."""
    if split is None:
        return "test" if (dataset / "test").is_dir() else "val"
    if not (dataset / split).is_dir():
        raise DatasetError(f"{dataset}: no {split}/ split; available: "
                           f"{', '.join(s for s in SPLITS if (dataset / s).is_dir())}")
    return split


def list_split(dataset: Path, split: str, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    """Images and true class indices of one split; its class folders must match the model's classes."""
    folder = dataset / split
    mismatch = class_folder_mismatch(folder, classes)
    if mismatch:
        raise DatasetError(f"{folder}: class folders do not match the model's classes ({mismatch})")
    paths: list[Path] = []
    labels: list[int] = []
    for idx, name in enumerate(classes):
        for p in sorted((folder / name).rglob("*")):
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(p)
                labels.append(idx)
    if not paths:
        raise DatasetError(f"{folder}: no images")
    return paths, np.array(labels, dtype=np.int64)
