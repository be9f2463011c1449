"""Suggestions on a dataset's images: a trained model's class for the unlabelled ones (the queue can then be
ordered by uncertainty: label the hard ones first, or by confidence: sweep the sure ones), and suspected label
errors from a label check of a version (cleanlab's ranking), each accepted or kept once per version."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from yolocls.core.fs import atomic_write_text
from yolocls.data.version_build import image_id_of
from yolocls.studio.label_schemas import SuggestionOut
from yolocls.studio.models import ImageRow, SuggestionRow, VersionRow
from yolocls.studio.settings import StudioSettings

WORK = ".studio/suggest"
ISSUES_CSV = "label_issues.csv"


def suggestion_out(row: SuggestionRow) -> SuggestionOut:
    return SuggestionOut(label=row.label, confidence=row.confidence, margin=row.margin, score=row.score,
                         flagged=row.flagged, source=row.source, version=row.version, decision=row.decision)


def of_images(s: Session, image_ids: list[int]) -> dict[tuple[int, str], SuggestionRow]:
    if not image_ids:
        return {}
    rows = s.scalars(select(SuggestionRow).where(SuggestionRow.image_id.in_(image_ids)))
    return {(r.image_id, r.kind): r for r in rows}


def write_targets(settings: StudioSettings, s: Session, dataset_id: str, job_id: str, everything: bool) -> str:
    """The images a suggest job predicts (the unlabelled ones, or all), as a file the worker reads."""
    query = select(ImageRow.id, ImageRow.file).where(ImageRow.dataset_id == dataset_id)
    if not everything:
        query = query.where(ImageRow.label.is_(None))
    rel = f"{WORK}/{job_id}.images.jsonl"
    path = settings.home / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps({"id": i, "file": f}) + "\n" for i, f in s.execute(query)))
    return rel


def store_model_suggestions(s: Session, dataset_id: str, out: Path, source: str) -> int:
    """A suggest job's answers as the images' "model" suggestions (replacing earlier ones)."""
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = {i for i in s.scalars(select(ImageRow.id).where(ImageRow.dataset_id == dataset_id))}
    rows = [r for r in rows if r["id"] in ids]  # images deleted meanwhile are left out
    s.execute(delete(SuggestionRow).where(SuggestionRow.dataset_id == dataset_id, SuggestionRow.kind == "model",
                                          SuggestionRow.image_id.in_([r["id"] for r in rows])))
    if rows:
        s.execute(insert(SuggestionRow), [{"image_id": r["id"], "kind": "model", "dataset_id": dataset_id,
                                           "label": r["label"], "confidence": r["confidence"],
                                           "margin": r["margin"], "source": source} for r in rows])
    return len(rows)


def _image_of(s: Session, version: VersionRow, path: str) -> int | None:
    """The working copy's image behind a version's file (`train/cat/12-x.png`, or its own folder for a version 1
    adopted from a prepared dataset)."""
    found = s.scalar(select(ImageRow.id).where(ImageRow.dataset_id == version.dataset_id,
                                               ImageRow.file == f"{version.folder}/{path}"))
    if found is not None:
        return int(found)
    image_id = image_id_of(path)
    row = s.get(ImageRow, image_id) if image_id is not None else None
    return row.id if row is not None and row.dataset_id == version.dataset_id else None


def store_label_issues(s: Session, version: VersionRow, folder: Path) -> int:
    """A label check's ranking as "error" suggestions of the images whose label it doubts (the suggested class
    differs from the given one); decisions already taken on this version are kept."""
    with (folder / ISSUES_CSV).open(encoding="utf-8", newline="") as fh:
        ranked = [r for r in csv.DictReader(fh) if r["suggested"] != r["given"]]
    old = {r.image_id: r.decision for r in s.scalars(select(SuggestionRow).where(
        SuggestionRow.dataset_id == version.dataset_id, SuggestionRow.kind == "error",
        SuggestionRow.version == version.number))}
    s.execute(delete(SuggestionRow).where(SuggestionRow.dataset_id == version.dataset_id,
                                          SuggestionRow.kind == "error"))
    rows: list[dict[str, Any]] = []
    for r in ranked:
        image_id = _image_of(s, version, r["path"])
        if image_id is None:
            continue
        rows.append({"image_id": image_id, "kind": "error", "dataset_id": version.dataset_id, "label": r["suggested"],
                     "confidence": 0.0, "margin": 0.0, "score": float(r["score"]), "flagged": r["issue"] == "True",
                     "source": f"label check of v{version.number}", "version": version.number,
                     "decision": old.get(image_id)})
    if rows:
        s.execute(insert(SuggestionRow), rows)
    return len(rows)
