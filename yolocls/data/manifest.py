"""`manifest.json`: the record of a prepared dataset (classes, counts, split, skipped files, duplicates)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from yolocls.core.errors import DatasetError
from yolocls.data.layout import SPLITS

MANIFEST_NAME = "manifest.json"


class SkippedFile(BaseModel):
    path: str = Field(description="Path relative to the source")
    reason: str


class DuplicateGroup(BaseModel):
    kind: Literal["exact", "near"] = Field(description="exact: same bytes; near: perceptual hash (dHash) match")
    files: list[str]
    labels: list[str]
    action: str = Field(description="What prepare did with the group")


class DatasetFile(BaseModel):
    path: str = Field(description="Path inside the dataset, e.g. train/cat/0001.jpg")
    source: str = Field(description="Path relative to the source it came from")
    sha256: str = Field(description="sha256 of the source file")
    converted: bool


class Manifest(BaseModel):
    """Everything `yolocls prepare` decided, so a dataset can be audited and reproduced."""

    format_version: int = 1
    created: datetime
    yolocls_version: str
    source: str = Field(description="The SOURCE argument, as an absolute path")
    layout: Literal["folders", "presplit", "csv"]
    classes: list[str] = Field(description="Class names in index order (sorted, as Ultralytics indexes them)")
    counts: dict[str, dict[str, int]] = Field(description="split -> class -> number of images")
    split: dict[str, float] | None = Field(description="Ratios per split; null when kept from a pre-split source")
    seed: int
    near_duplicate_threshold: int
    skipped: list[SkippedFile]
    duplicates: list[DuplicateGroup]
    warnings: list[str]
    files: list[DatasetFile]

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if s in self.counts]



def manifest_summary(m: Manifest) -> dict[str, Any]:
    """What a list of datasets shows, small whatever the dataset's size (stored once per dataset)."""
    return {"classes": m.classes, "counts": m.counts, "images": len(m.files), "warnings": m.warnings,
            "skipped_count": len(m.skipped), "duplicate_groups": len(m.duplicates)}


def load_manifest(dataset: Path) -> Manifest:
    """Read `dataset/manifest.json`, with an error saying how to create it."""
    path = dataset / MANIFEST_NAME
    if not dataset.is_dir():
        raise DatasetError(f"{dataset}: dataset folder not found; create it with `yolocls prepare SOURCE`")
    if not path.is_file():
        raise DatasetError(f"{dataset}: no {MANIFEST_NAME}; not a prepared dataset. "
                           "Run `yolocls prepare` on your images first")
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DatasetError(f"{path}: invalid manifest ({str(exc).splitlines()[0]})") from exc


def manifest_sha256(dataset: Path) -> str:
    return hashlib.sha256((dataset / MANIFEST_NAME).read_bytes()).hexdigest()
