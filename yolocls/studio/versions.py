"""Dataset versions: cutting one (splits fixed for good, a snapshot of every image's label, the build queued as a
job), recording it when built, comparing two, and turning a dataset prepared before labelling existed into a
working copy whose version 1 is the folder it already has."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from yolocls.core.fs import atomic_write_text
from yolocls.data.manifest import Manifest, load_manifest
from yolocls.data.pool import PoolImage
from yolocls.data.prepare import DEFAULT_SPLIT
from yolocls.data.splitting import parse_ratios
from yolocls.data.stable_split import Entry, assign_stable
from yolocls.data.version_build import SnapshotImage, read_snapshot
from yolocls.studio.errors import Conflict, NotFound
from yolocls.studio.job_events import aware
from yolocls.studio.label_schemas import DiffEntry, VersionDiff, VersionOut
from yolocls.studio.models import DatasetRow, ImageRow, SuggestionRow, VersionRow
from yolocls.studio.settings import StudioSettings
from yolocls.studio.workcopy import add_classes

SNAPSHOTS = ".studio/versions"
MAX_DIFF_LISTED = 500


def version_folder(dataset_name: str, number: int) -> str:
    """`datasets/<name>@v<N>` ('@' is never in a dataset name: no clash with another dataset's folder)."""
    return f"datasets/{dataset_name}@v{number}"


def content_sha(images: Iterable[SnapshotImage]) -> str:
    lines = sorted(f"{im.sha256} {im.label} {im.split}" for im in images if im.label)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def version_out(row: VersionRow) -> VersionOut:
    return VersionOut(number=row.number, status=row.status, images=row.images, counts=row.counts or {},  # type: ignore
                      sha256=row.sha256, created=aware(row.created), author=row.author, error=row.error,  # type: ignore
                      job=row.job_id, folder=row.folder)


def versions(s: Session, dataset_id: str) -> list[VersionRow]:
    return list(s.scalars(select(VersionRow).where(VersionRow.dataset_id == dataset_id).order_by(VersionRow.number)))


def version_row(s: Session, dataset_id: str, number: int) -> VersionRow:
    row = s.scalar(select(VersionRow).where(VersionRow.dataset_id == dataset_id, VersionRow.number == number))
    if row is None:
        raise NotFound(f"version {number} not found")
    return row


def latest_ready(s: Session, dataset_id: str) -> VersionRow | None:
    return s.scalar(select(VersionRow).where(VersionRow.dataset_id == dataset_id, VersionRow.status == "ready")
                    .order_by(VersionRow.number.desc()).limit(1))


def _snapshot(s: Session, dataset_id: str) -> list[SnapshotImage]:
    rows = s.execute(select(ImageRow.id, ImageRow.name, ImageRow.file, ImageRow.sha256, ImageRow.label,
                            ImageRow.split).where(ImageRow.dataset_id == dataset_id).order_by(ImageRow.id))
    return [SnapshotImage(*r) for r in rows]


def write_snapshot(settings: StudioSettings, dataset_id: str, number: int, images: list[SnapshotImage]) -> str:
    rel = f"{SNAPSHOTS}/{dataset_id}/v{number}.jsonl"
    path = settings.home / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(im.__dict__) + "\n" for im in images))
    return rel


def cut(s: Session, settings: StudioSettings, dataset: DatasetRow, author: str) -> VersionRow:
    """Freeze the working copy as the next version (built by a job the caller queues): every labelled image
    keeps its split or gets one for good, and the snapshot of every image's label is written."""
    building = s.scalar(select(VersionRow).where(VersionRow.dataset_id == dataset.id, VersionRow.status == "building"))
    if building is not None:
        raise Conflict(f"version {building.number} is being built; wait for it (job {building.job_id})")
    images = _snapshot(s, dataset.id)
    labelled = [im for im in images if im.label]
    if not labelled:
        raise Conflict("no image has a class yet; label some images first")
    options = dataset.options or {}
    ratios = parse_ratios(options.get("split") or DEFAULT_SPLIT)
    groups = {i: g for i, g in s.execute(select(ImageRow.id, ImageRow.grp).where(ImageRow.dataset_id == dataset.id))}
    splits = assign_stable([Entry(im.id, str(im.label), groups[im.id], im.split) for im in labelled], ratios,
                           int(options.get("seed") or 0))
    new = [{"id": im.id, "split": splits[im.id]} for im in labelled if im.split != splits[im.id]]
    if new:  # given their split for good (or, rarely, moved to a split their class had lost: _fill_empty)
        s.execute(update(ImageRow), new)
    images = [SnapshotImage(im.id, im.name, im.file, im.sha256, im.label, splits.get(im.id, im.split))
              for im in images]
    sha = content_sha(images)
    last = latest_ready(s, dataset.id)
    if last is not None and last.sha256 == sha:
        raise Conflict(f"nothing changed since version {last.number}; label or relabel images first")
    number = (s.scalar(select(func.max(VersionRow.number)).where(VersionRow.dataset_id == dataset.id)) or 0) + 1
    row = VersionRow(dataset_id=dataset.id, number=number, status="building", folder=version_folder(dataset.name,
                     number), sha256=sha, images=len(labelled), counts={}, author=author,
                     snapshot=write_snapshot(settings, dataset.id, number, images))
    s.add(row)
    s.flush()
    return row


def built(s: Session, settings: StudioSettings, row: VersionRow, dataset: DatasetRow) -> Manifest:
    """Record a built version: its counts, every image's label in it (what "changed since" compares with), and
    the dataset's current folder (what it trains on by default)."""
    manifest = load_manifest(settings.home / row.folder)
    row.status, row.images, row.error = "ready", len(manifest.files), None
    totals: dict[str, int] = {c: 0 for c in manifest.classes}
    for per_class in manifest.counts.values():
        for c, n in per_class.items():
            totals[c] += n
    row.counts = totals
    snapshot = read_snapshot(settings.home / str(row.snapshot))
    s.execute(update(ImageRow), [{"id": im.id, "version_label": im.label} for im in snapshot])
    dataset.status, dataset.error = "ready", None
    return manifest


def diff(settings: StudioSettings, base: VersionRow, target: VersionRow) -> VersionDiff:
    """Images added, removed and relabelled from `base` to `target`, and per-class counts in each."""
    before = {im.id: im for im in read_snapshot(settings.home / str(base.snapshot)) if im.label}
    after = {im.id: im for im in read_snapshot(settings.home / str(target.snapshot)) if im.label}
    added = [DiffEntry(name=after[i].name, after=after[i].label) for i in sorted(set(after) - set(before))]
    removed = [DiffEntry(name=before[i].name, before=before[i].label) for i in sorted(set(before) - set(after))]
    relabelled = [DiffEntry(name=after[i].name, before=before[i].label, after=after[i].label)
                  for i in sorted(set(before) & set(after)) if before[i].label != after[i].label]
    classes = sorted(set(base.counts or {}) | set(target.counts or {}))
    return VersionDiff(base=base.number, target=target.number, added=len(added), removed=len(removed),
                       relabelled=len(relabelled), changes=(relabelled + added + removed)[:MAX_DIFF_LISTED],
                       counts={c: {"base": (base.counts or {}).get(c, 0), "target": (target.counts or {}).get(c, 0)}
                               for c in classes})


def insert_pool(s: Session, dataset_id: str, pool_rel: str, images: list[PoolImage]) -> None:
    """The images of an upload for labelling, as the dataset's working copy (classes from the labels it had)."""
    if images:
        s.execute(insert(ImageRow), [{"dataset_id": dataset_id, "name": im.name, "file": f"{pool_rel}/{im.file}",
                                      "sha256": im.sha256, "grp": im.group, "width": im.width, "height": im.height,
                                      "label": im.label, "revision": 0} for im in images])
    add_classes(s, dataset_id, sorted({im.label for im in images if im.label}))


def add_captured(s: Session, dataset_id: str, pool_rel: str, images: list[PoolImage], prefix: str,
                 predictions: Path, source: str) -> int:
    """Captured images as unlabelled images of the working copy (`prefix/<name>`), but not those whose bytes it
    has; each with its production prediction as a suggestion. How many were added."""
    have = set(s.scalars(select(ImageRow.sha256).where(ImageRow.dataset_id == dataset_id)))
    new = [im for im in images if im.sha256 not in have]
    if not new:
        return 0
    s.execute(insert(ImageRow), [{"dataset_id": dataset_id, "name": f"{prefix}/{im.name}", "file": f"{pool_rel}/"
                                  f"{im.file}", "sha256": im.sha256, "grp": im.group, "width": im.width,
                                  "height": im.height, "label": None, "revision": 0} for im in new])
    said = {p["name"]: p for p in (json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()
                                   if line.strip())} if predictions.is_file() else {}
    ids = dict(s.execute(select(ImageRow.name, ImageRow.id).where(
        ImageRow.dataset_id == dataset_id, ImageRow.name.in_([f"{prefix}/{im.name}" for im in new]))).tuples().all())
    rows = [{"image_id": ids[f"{prefix}/{im.name}"], "kind": "model", "dataset_id": dataset_id, "label": p["label"],
             "confidence": p["confidence"], "margin": p["margin"], "source": source}
            for im in new if (p := said.get(im.name)) and f"{prefix}/{im.name}" in ids]
    if rows:
        s.execute(insert(SuggestionRow), rows)
    return len(new)


def has_working_copy(s: Session, dataset_id: str) -> bool:
    return s.scalar(select(ImageRow.id).where(ImageRow.dataset_id == dataset_id).limit(1)) is not None


def adopt_prepared(s: Session, settings: StudioSettings, dataset: DatasetRow) -> None:
    """A dataset prepared from labelled images (before labelling existed, or uploaded labelled): its images
    become the working copy, with their labels and splits, and its folder becomes version 1."""
    folder = f"datasets/{dataset.name}"
    manifest = load_manifest(settings.home / folder)
    group_of: dict[str, str] = {}
    sha_of = {f.source: f.sha256 for f in manifest.files}
    for group in manifest.duplicates:
        kept = [f for f in group.files if f in sha_of]
        for f in kept:
            group_of[f] = sha_of[kept[0]]
    rows = [{"dataset_id": dataset.id, "name": f.source, "file": f"{folder}/{f.path}", "sha256": f.sha256,
             "grp": group_of.get(f.source, f.sha256), "label": f.path.split("/")[1], "split": f.path.split("/")[0],
             "version_label": f.path.split("/")[1], "revision": 0} for f in manifest.files]
    if rows:
        s.execute(insert(ImageRow), rows)
    add_classes(s, dataset.id, manifest.classes)
    images = _snapshot(s, dataset.id)
    counts = {c: 0 for c in manifest.classes}
    for im in images:
        counts[str(im.label)] += 1
    s.add(VersionRow(dataset_id=dataset.id, number=1, status="ready", folder=folder, sha256=content_sha(images),
                     images=len(images), counts=counts, author="upload", built=True,
                     snapshot=write_snapshot(settings, dataset.id, 1, images)))
    s.flush()


def train_folder(s: Session, dataset: DatasetRow, number: int | None) -> tuple[str, int | None]:
    """The folder (relative to the home) a job trains on: the given version, else the latest, else the dataset's
    own folder (a dataset never labelled in the studio)."""
    row = version_row(s, dataset.id, number) if number is not None else latest_ready(s, dataset.id)
    if row is None:
        return f"datasets/{dataset.name}", None
    if row.status != "ready":
        raise Conflict(f"version {row.number} is {row.status}" + (f" ({row.error})" if row.error else ""))
    return row.folder, row.number
