"""The studio's services, wired once per app: settings, database, Ray engine, scheduler, model registry."""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yolocls.data.manifest import MANIFEST_NAME, Manifest, SkippedFile, manifest_sha256, manifest_summary
from yolocls.studio.db import Database
from yolocls.studio.errors import Conflict, NotFound, QueueFull
from yolocls.studio.job_events import aware
from yolocls.studio.jobmodel import ACTIVE, RESUMABLE, JobKind, JobStatus
from yolocls.studio.jobs import EngineUnavailable, JobEngine
from yolocls.studio.models import DatasetRow, EventRow, JobRow
from yolocls.studio.registry import Registry
from yolocls.studio.scheduler import Scheduler
from yolocls.studio.schemas import DatasetOut, DuplicateGroupOut, JobOut
from yolocls.studio.settings import StudioSettings
from yolocls.studio.uploads import Upload
from yolocls.training.batch_progress import read_progress as read_batch_progress
from yolocls.training.rundir import checkpoint_exists, read_epochs, weights_path

__all__ = ["Conflict", "NotFound", "QueueFull", "Studio", "studio_of"]
Row = TypeVar("Row", DatasetRow, JobRow)
SAMPLES_PER_CLASS = 8


def samples(manifest: Manifest, per_class: int = SAMPLES_PER_CLASS) -> dict[str, list[str]]:
    """A few images per class, evenly spaced over the manifest's (sorted) files of that class."""
    by_class: dict[str, list[str]] = {c: [] for c in manifest.classes}
    for f in manifest.files:
        parts = f.path.split("/")
        if len(parts) == 3 and parts[1] in by_class:
            by_class[parts[1]].append(f.path)
    out = {}
    for name, paths in by_class.items():
        paths.sort()
        step = max(1, len(paths) // per_class)
        out[name] = paths[::step][:per_class]
    return out


@dataclass
class Studio:
    settings: StudioSettings
    db: Database
    engine: JobEngine
    scheduler: Scheduler
    registry: Registry
    _names_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def datasets_dir(self) -> Path:
        return self.settings.folder("datasets")

    @property
    def uploads_dir(self) -> Path:
        return self.settings.folder(".studio/uploads")

    def clean_partial_uploads(self) -> None:
        """At start-up: half-received uploads, and the staging folders of version builds cut short by a kill
        (`datasets/.<name>@v<N>.tmp-*`, `.src-*`; the build itself is queued again)."""
        for partial in self.uploads_dir.glob(".partial-*"):
            shutil.rmtree(partial, ignore_errors=True)
        for partial in [*self.datasets_dir.glob(".*@v*.tmp-*"), *self.datasets_dir.glob(".*@v*.src-*")]:
            shutil.rmtree(partial, ignore_errors=True)

    # ---------- datasets ----------

    def _get(self, table: type[Row], key: str, noun: str) -> Row:
        with self.db.session() as s:
            row = s.get(table, key)
        if row is None:
            raise NotFound(f"{noun} '{key}' not found")
        return row

    def dataset_row(self, dataset_id: str) -> DatasetRow:
        return self._get(DatasetRow, dataset_id, "dataset")

    def dataset_name_taken(self, name: str) -> bool:
        """A studio dataset that did not fail, or any folder under datasets/ (a CLI dataset), has this name
        (a failed upload does not keep its name: the next upload of that name replaces it)."""
        if (self.datasets_dir / name).exists():
            return True
        with self.db.session() as s:
            return s.scalar(select(DatasetRow.id).where(DatasetRow.name == name,
                                                        DatasetRow.status != "failed")) is not None

    def free_dataset_name(self, base: str) -> str:
        """`base`, else `base-2`, `base-3`, ...: for uploads whose name was derived, not given."""
        name, k = base, 2
        while self.dataset_name_taken(name):
            name, k = f"{base}-{k}", k + 1
        return name

    def add_upload(self, upload: Upload, dataset_id: str) -> str:
        """The dataset entry and its preparation job for a received upload; the job's id. Names are settled
        one upload at a time: a derived name takes the next free suffix, a given name that was taken meanwhile
        is a 409 (and the upload is deleted)."""
        home = self.settings.home
        try:
            with self._names_lock, self.db.session() as s:
                if not upload.name_given:
                    upload.name = self.free_dataset_name(upload.name)
                elif self.dataset_name_taken(upload.name):  # again: another upload may have taken it meanwhile
                    raise Conflict(f"name: a dataset named '{upload.name}' exists; choose another name")
                # Paths relative to the home: they appear in API answers, which never name server folders.
                options = {"source": str(upload.source.relative_to(home)),
                           "csv": str(upload.csv.relative_to(home)) if upload.csv else None,
                           "out": str((self.datasets_dir / upload.name).relative_to(home)), "split": upload.split,
                           "seed": upload.seed, "keep_conflicts": upload.keep_conflicts}
                self.replace_failed_dataset(s, upload.name)
                kind = JobKind.PREPARE
                if upload.labelling:  # checked into the dataset's pool, for labelling
                    kind = JobKind.INGEST
                    options = {**options, "out": None, "pool": f".studio/pool/{dataset_id}", "labelling": True}
                s.add(DatasetRow(id=dataset_id, name=upload.name, status="preparing",
                                 source=str(upload.folder.relative_to(home)), options=options))
                job = self.scheduler.queue_job(s, kind, dataset_id=dataset_id, params={"options": options})
                return job.id
        except BaseException:
            shutil.rmtree(upload.folder, ignore_errors=True)
            raise

    def replace_failed_dataset(self, s: Session, name: str) -> None:
        """Drop the failed dataset holding `name` (what is left of its upload too), in session `s`."""
        for row in s.scalars(select(DatasetRow).where(DatasetRow.name == name, DatasetRow.status == "failed")):
            shutil.rmtree(self.settings.home / row.source, ignore_errors=True)
            s.delete(row)
        s.flush()  # before the new row with this name is inserted

    def dataset_summary(self, row: DatasetRow) -> DatasetOut:
        """Name, status and counts from the summary stored when the dataset became ready: no manifest is read
        (datasets made before summaries were stored get theirs once, here)."""
        out = DatasetOut(id=row.id, name=row.name, status=row.status, error=row.error,  # type: ignore[arg-type]
                         created=aware(row.created), version=(row.options or {}).get("version"))  # type: ignore
        if row.status == "labelling":
            return out.model_copy(update=(row.options or {}).get("summary") or {})
        if row.status != "ready":
            return out
        summary = (row.options or {}).get("summary")
        if summary is None:
            manifest = self.manifest_of(row)
            if manifest is None:
                return out
            summary = manifest_summary(manifest)
            with self.db.session() as s:
                stored = s.get(DatasetRow, row.id)
                if stored is not None:
                    stored.options = {**(stored.options or {}), "summary": summary}
        return out.model_copy(update=summary)

    def manifest_of(self, row: DatasetRow) -> Manifest | None:
        key = self._manifest_key(row)
        return _parsed_manifest(*key) if key else None

    def dataset_folder(self, row: DatasetRow) -> Path:
        """The folder of the dataset's current version (its own folder when it was never labelled here)."""
        folder = (row.options or {}).get("folder")
        return self.settings.home / folder if folder else self.datasets_dir / row.name

    def _manifest_key(self, row: DatasetRow) -> tuple[Path, int, int] | None:
        """The manifest's path and version (mtime, size): what the caches below are keyed by."""
        path = self.dataset_folder(row) / MANIFEST_NAME
        try:
            stat = path.stat()
        except OSError:
            return None
        return path, stat.st_mtime_ns, stat.st_size

    def dataset_out(self, row: DatasetRow) -> DatasetOut:
        """One dataset in full: its summary, skipped files, duplicate groups and samples (worked out once per
        version of the manifest, in the caller's worker thread: a page reloaded in a loop costs a lookup)."""
        out = self.dataset_summary(row)
        scan = self.settings.home / str((row.options or {}).get("scan", "-"))
        if row.status == "labelling" and scan.is_file():  # what the upload for labelling skipped, and why
            out.skipped = [SkippedFile(**f) for f in json.loads(scan.read_text(encoding="utf-8"))["skipped"]]
        key = self._manifest_key(row) if row.status == "ready" else None
        if key is not None:
            details = _dataset_details(*key)
            out.skipped, out.duplicates, out.samples = details.skipped, details.duplicates, details.samples
        return out

    def datasets(self) -> list[DatasetOut]:
        with self.db.session() as s:
            rows = list(s.scalars(select(DatasetRow).order_by(DatasetRow.created)))
        return [self.dataset_summary(r) for r in rows]

    def delete_dataset(self, dataset_id: str) -> None:
        """Delete the entry, its upload and the dataset folder, but only the folder the studio itself published
        (its manifest unchanged): a folder of that name made by the CLI, or rewritten since, stays."""
        row = self.dataset_row(dataset_id)
        with self.db.session() as s:
            busy = s.scalar(select(JobRow).where(JobRow.dataset_id == dataset_id,
                                                 JobRow.status.in_(ACTIVE)))
            if busy is not None:
                raise Conflict(f"dataset '{row.name}' is used by {busy.kind} job {busy.id} ({busy.status}); "
                               "cancel it first")
            for job in s.scalars(select(JobRow).where(JobRow.dataset_id == dataset_id, JobRow.kind == "train",
                                                      JobRow.status.in_(RESUMABLE))):
                if job.run_name and checkpoint_exists(weights_path(self.scheduler.runs_dir / job.run_name, "last")):
                    raise Conflict(f"dataset '{row.name}' is needed to resume training job {job.id} ({job.status}, "
                                   f"run {job.run_name}); resume it to the end, or start a new run, first")
            s.delete(s.get(DatasetRow, dataset_id))
        folder = self.datasets_dir / row.name
        published = (row.options or {}).get("manifest_sha256")
        ours = manifest_sha256(folder) == published if published and (folder / MANIFEST_NAME).is_file() else \
            published is None and row.status == "ready"  # made before the studio recorded its manifests
        if ours:
            shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(self.settings.home / row.source, ignore_errors=True)
        # what labelling made: the pool of images, the version snapshots, every version's folder
        for made in (self.settings.home / ".studio/pool" / row.id, self.settings.home / ".studio/versions" / row.id,
                     *self.datasets_dir.glob(f"{row.name}@v*")):
            shutil.rmtree(made, ignore_errors=True)

    # ---------- jobs ----------

    def check_queue(self) -> None:
        """503 while the job engine is unavailable (its cluster's head lost: the studio reconnects by itself);
        429 when as many jobs wait as the studio accepts (each waiting job costs every scheduler tick)."""
        if not self.engine.available:
            raise EngineUnavailable(f"the job engine ({self.engine.where}) is unavailable: {self.engine.lost}; no "
                                    "job can be started until it is back (the studio reconnects by itself; "
                                    "GET /ready says when)")
        with self.db.session() as s:
            queued = s.scalar(select(func.count()).select_from(JobRow).where(JobRow.status == JobStatus.QUEUED)) or 0
        if queued >= self.settings.max_queued_jobs:
            raise QueueFull(f"{queued} jobs are already waiting (YOLOCLS_MAX_QUEUED_JOBS); retry when some have "
                            "started, or cancel some")

    def job_row(self, job_id: str) -> JobRow:
        return self._get(JobRow, job_id, "job")

    def job_out(self, row: JobRow, with_metrics: bool = True) -> JobOut:
        training = row.kind == JobKind.TRAIN and row.run_name is not None and with_metrics
        epochs = read_epochs(self.scheduler.runs_dir / str(row.run_name)) if training else []
        eta, batch = None, None
        if row.status == JobStatus.RUNNING and training:
            batch = read_batch_progress(self.scheduler.runs_dir / str(row.run_name))
        if row.status == JobStatus.RUNNING and epochs and row.epochs_planned:
            mean = sum(e.seconds or 0 for e in epochs) / len(epochs)
            eta = round(mean * max(0, row.epochs_planned - epochs[-1].epoch), 1)
        if batch is not None and batch.epoch > (epochs[-1].epoch if epochs else 0):
            eta = batch.eta_s  # the epoch in progress: its own pace, seconds after the run started
        return JobOut(id=row.id, kind=row.kind, status=row.status, dataset=row.dataset_id,  # type: ignore[arg-type]
                      run=row.run_name, epoch=epochs[-1].epoch if epochs else row.epochs_done,
                      batch=batch.batch if batch else None, batches=batch.batches if batch else None,
                      epochs=row.epochs_planned, eta_s=eta, error=row.error, created=aware(row.created),  # type: ignore
                      started=aware(row.started), ended=aware(row.ended), params=row.params, metrics=epochs,
                      deployed=(row.params or {}).get("deployed"),
                      waiting=self.scheduler.waiting.get(row.id) if row.status == JobStatus.QUEUED else None)

    def events_after(self, job_id: str, last_id: int) -> list[EventRow]:
        with self.db.session() as s:
            return list(s.scalars(select(EventRow).where(EventRow.job_id == job_id, EventRow.id > last_id)
                                  .order_by(EventRow.id)))

    def job_log(self, job_id: str) -> str:
        self.job_row(job_id)
        path = self.scheduler.log_path(job_id)
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


@lru_cache(maxsize=4)
def _parsed_manifest(path: Path, mtime_ns: int, size: int) -> Manifest:
    """A manifest parsed once per version of the file (a 15,000-image manifest is megabytes of JSON)."""
    return Manifest.model_validate_json(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class _Details:
    skipped: list[SkippedFile]
    duplicates: list[DuplicateGroupOut]
    samples: dict[str, list[str]]


@lru_cache(maxsize=16)
def _dataset_details(path: Path, mtime_ns: int, size: int) -> _Details:
    """What a dataset's page shows beyond its summary, once per version of its manifest."""
    m = _parsed_manifest(path, mtime_ns, size)
    written = {f.source: f.path for f in m.files}
    duplicates = [DuplicateGroupOut(**g.model_dump(), images=[written.get(f) for f in g.files]) for g in m.duplicates]
    return _Details(skipped=m.skipped, duplicates=duplicates, samples=samples(m))


def studio_of(request: Request) -> Studio:
    return request.app.state.studio  # type: ignore[no-any-return]
