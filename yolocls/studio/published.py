"""The dataset folders the studio publishes: marking one ready (with the manifest it published and a summary
for the list), recognising a published folder after a kill, and removing the studio's half-written copies."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import select

from yolocls.data.manifest import MANIFEST_NAME, load_manifest, manifest_sha256, manifest_summary
from yolocls.studio.models import DatasetRow

log = logging.getLogger("yolocls.studio")


def mark_ready(datasets_dir: Path, dataset: DatasetRow) -> None:
    """Ready, remembering which manifest the studio published: only that folder is the studio's to delete."""
    folder = datasets_dir / dataset.name
    dataset.status, dataset.error = "ready", None
    options = {**(dataset.options or {}), "manifest_sha256": manifest_sha256(folder)}
    try:
        options["summary"] = manifest_summary(load_manifest(folder))
    except Exception:  # an unreadable manifest: the dataset page says so when it is opened
        log.exception("dataset %s: manifest unreadable", dataset.name)
    dataset.options = options


def published(datasets_dir: Path, dataset: DatasetRow) -> bool:
    """Whether the dataset's folder was completely published (its manifest is there and readable)."""
    folder = datasets_dir / dataset.name
    if not (folder / MANIFEST_NAME).is_file():
        return False
    try:
        load_manifest(folder)
        return True
    except Exception:
        return False


def clean_staging(datasets_dir: Path, session: Any) -> None:
    """Half-written copies of the studio's own preparations (`datasets/.NAME.tmp-*`) left by a kill."""
    for row in session.scalars(select(DatasetRow).where(DatasetRow.status != "ready")):
        for partial in datasets_dir.glob(f".{row.name}.tmp-*"):
            shutil.rmtree(partial, ignore_errors=True)
