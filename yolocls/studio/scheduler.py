"""Job lifecycle: queue, start on Ray when a slot is free, follow progress, finish, cancel, resume, recover.

State lives in the database; the run folders (run.json, epochs.jsonl) are the source of training progress,
so the same code follows a job on this machine or on any node of a cluster with shared storage.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

from yolocls.core.progress import read_progress
from yolocls.studio.db import Database
from yolocls.studio.jobmodel import (
    KINDS,
    TERMINAL,
    JobKind,
    JobResult,
    JobStatus,
    PrepareResult,
    TrainResult,
    check_transition,
)
from yolocls.studio.jobs import Handle, JobEngine
from yolocls.studio.models import DatasetRow, EventRow, JobRow
from yolocls.studio.published import clean_staging, mark_ready, published
from yolocls.studio.settings import StudioSettings
from yolocls.training.batch_progress import read_progress as read_batch_progress
from yolocls.training.rundir import STOP_FILE, load_run_record, read_epochs

log = logging.getLogger("yolocls.studio")


def new_id() -> str:
    return secrets.token_hex(6)


def now() -> datetime:
    return datetime.now(timezone.utc)


def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


class Scheduler:
    def __init__(self, settings: StudioSettings, db: Database, engine: JobEngine) -> None:
        self.settings, self.db, self.engine = settings, db, engine
        self.handles: dict[str, Handle] = {}
        self.runs_dir = settings.folder("runs")
        self.logs_dir = settings.folder(".studio/logs")
        self._last_progress: dict[str, dict[str, Any]] = {}

    # ---------- events ----------

    def add_event(self, session: Any, job: JobRow, kind: str, data: dict[str, Any]) -> None:
        session.flush()  # the job row (and its dataset) first: events reference them
        session.add(EventRow(job_id=job.id, kind=kind, data=data))

    def set_status(self, session: Any, job: JobRow, status: JobStatus, error: str | None = None) -> None:
        """The one place a job's status changes: checked against the allowed transitions, with its event."""
        status = check_transition(job.status, status)
        error = self.settings.relative(error) if error else error
        job.status, job.error = status.value, error
        if status == JobStatus.RUNNING:
            job.started = now()
        if status in TERMINAL:
            job.ended = now()
        self.add_event(session, job, "status", {"status": status.value, "error": error, "run": job.run_name})

    def log_path(self, job_id: str) -> Path:
        return self.logs_dir / f"{job_id}.log"

    # ---------- startup ----------

    def recover(self) -> None:
        """After a crash or restart: running training jobs are interrupted (resumable); a preparation whose
        dataset was already published is completed, any other starts again from its saved upload; queued
        jobs stay queued."""
        datasets = self.settings.folder("datasets")
        with self.db.session() as s:
            clean_staging(datasets, s)
            for job in s.scalars(select(JobRow).where(JobRow.status == JobStatus.RUNNING)):
                if job.kind == JobKind.PREPARE:
                    dataset = s.get(DatasetRow, job.dataset_id) if job.dataset_id else None
                    if dataset is not None and published(datasets, dataset):
                        mark_ready(datasets, dataset)  # published just before the stop
                        self.free_upload(dataset)
                        self.set_status(s, job, JobStatus.COMPLETED)
                        continue
                    self.set_status(s, job, JobStatus.QUEUED)
                else:
                    self._mark_run_interrupted(job.run_name)
                    self.set_status(s, job, JobStatus.INTERRUPTED, "the studio stopped while this job ran; resume it")

    def _mark_run_interrupted(self, run_name: str | None) -> None:
        if not run_name:
            return
        run_dir = self.runs_dir / run_name
        try:
            record = load_run_record(run_dir)
        except Exception:  # a damaged run.json: leave it for the user to see
            return
        if record is not None and record.status == "running":
            record.status, record.ended = "interrupted", now()
            record.error = f"interrupted; continue with `yolocls train --resume {run_dir}`"
            record.save(run_dir)

    # ---------- the loop body ----------

    def tick(self) -> None:
        with self.db.session() as s:
            running = list(s.scalars(select(JobRow).where(JobRow.status == JobStatus.RUNNING)))
            for job in running:
                self._follow(s, job)
            self._start_queued(s)

    def _start_queued(self, s: Any) -> None:
        running = list(s.scalars(select(JobRow).where(JobRow.status == JobStatus.RUNNING)))
        free = {JobKind.PREPARE: self.settings.prepare_slots - sum(j.kind == JobKind.PREPARE for j in running),
                JobKind.TRAIN: self.engine.training_slots(self.settings.cpu_training_slots)
                - sum(j.kind == JobKind.TRAIN for j in running)}
        for job in s.scalars(select(JobRow).where(JobRow.status == JobStatus.QUEUED).order_by(JobRow.created)):
            if free[job.kind] <= 0:
                continue
            free[job.kind] -= 1
            self._start(s, job)

    def home_path(self, value: str | None) -> str | None:
        """A path stored relative to the home (what clients see) -> the absolute path a worker needs.
        Rows written by older versions hold absolute paths, which stay as they are."""
        return None if value is None else str(self.settings.home / value)

    def worker_options(self, job: JobRow) -> dict[str, Any]:
        options = dict(job.params["options"])
        if job.kind == JobKind.PREPARE:
            for key in ("source", "csv", "out"):
                options[key] = self.home_path(options.get(key))
            return {**options, "progress_file": str(self.progress_path(job.id))}
        if "resume" in options:
            return {**options, "resume": str(self.runs_dir / Path(options["resume"]).name)}
        return {**options, "data": self.home_path(options["data"]), "runs_dir": str(self.runs_dir)}

    def _start(self, s: Any, job: JobRow) -> None:
        if job.run_name:
            (self.runs_dir / job.run_name / STOP_FILE).unlink(missing_ok=True)
        work = KINDS[JobKind(job.kind)]
        self.handles[job.id] = self.engine.submit(work, self.worker_options(job), str(self.log_path(job.id)))
        job.cancel_requested = None
        self.set_status(s, job, JobStatus.RUNNING)

    def _follow(self, s: Any, job: JobRow) -> None:
        handle = self.handles.get(job.id)
        if job.kind == JobKind.TRAIN:
            self._progress(s, job)
        else:
            self._prepare_progress(s, job)
        if handle is None:  # started by another studio process that is gone
            self.set_status(s, job, JobStatus.INTERRUPTED, "the job's worker is gone; resume it")
            return
        cancel_at = aware(job.cancel_requested)
        if cancel_at and (now() - cancel_at).total_seconds() > self.settings.cancel_grace_s \
                and not self.engine.done(handle):
            log.warning("job %s ignored the stop request for %.0f s: killing it", job.id,
                        self.settings.cancel_grace_s)
            self.engine.kill(handle)
            self._mark_run_interrupted(job.run_name)
        if self.engine.done(handle):
            self._finish(s, job, self.engine.result(handle))
            self.handles.pop(job.id, None)

    def progress_path(self, job_id: str) -> Path:
        return self.logs_dir / f"{job_id}.progress.json"

    def _prepare_progress(self, s: Any, job: JobRow) -> None:
        """A `progress` event each time the preparation's progress file changes (images checked, written)."""
        data = read_progress(self.progress_path(job.id))
        if data is not None and data != self._last_progress.get(job.id):
            self._last_progress[job.id] = data
            self.add_event(s, job, "progress", data)

    def _progress(self, s: Any, job: JobRow) -> None:
        if not job.run_name:
            return
        run_dir = self.runs_dir / job.run_name
        record = None
        try:
            record = load_run_record(run_dir)
        except Exception:
            pass
        if record is not None:
            job.epochs_planned = record.epochs_planned
        for row in read_epochs(run_dir):
            if row.epoch > job.epochs_done:
                job.epochs_done = row.epoch
                self.add_event(s, job, "epoch", {**row.model_dump(), "epochs": job.epochs_planned})
        batches = read_batch_progress(run_dir)
        if batches is not None and batches.model_dump() != self._last_progress.get(job.id):
            self._last_progress[job.id] = batches.model_dump()  # within an epoch: every few seconds
            self.add_event(s, job, "progress", batches.model_dump())

    def free_upload(self, dataset: DatasetRow) -> None:
        """Delete a prepared (or refused) dataset's upload, unless the studio keeps originals
        (`YOLOCLS_KEEP_UPLOADS`): then it stays, unreachable through the API, until the dataset is deleted."""
        if not self.settings.keep_uploads:
            shutil.rmtree(self.settings.home / dataset.source, ignore_errors=True)

    def _finish(self, s: Any, job: JobRow, result: JobResult) -> None:
        if isinstance(result, PrepareResult):
            self._finish_prepare(s, job, result)
            return
        if not isinstance(result, TrainResult):
            raise TypeError(f"job {job.id} ({job.kind}) returned {type(result).__name__}")
        self._progress(s, job)
        self._last_progress.pop(job.id, None)
        if job.cancel_requested is not None and result.status != "completed":
            self.set_status(s, job, JobStatus.CANCELLED, "cancelled; resume continues from the last checkpoint")
        else:
            self.set_status(s, job, JobStatus(result.status), result.error)

    def _finish_prepare(self, s: Any, job: JobRow, result: PrepareResult) -> None:
        self._prepare_progress(s, job)
        self._last_progress.pop(job.id, None)
        dataset = s.get(DatasetRow, job.dataset_id) if job.dataset_id else None
        if dataset is not None:  # prepared (or refused): the upload is no longer needed, nor reachable
            self.free_upload(dataset)
        if result.ok:
            if dataset is not None:
                mark_ready(self.settings.folder("datasets"), dataset)
            self.set_status(s, job, JobStatus.COMPLETED)
            return
        if dataset is not None:
            dataset.status, dataset.error = "failed", self.settings.relative(str(result.error))
        self.set_status(s, job, JobStatus.FAILED, result.error)

    def stop_running(self, timeout_s: float) -> None:
        """Studio shutdown: ask running training jobs to stop at their next batch (checkpoints complete),
        wait for them up to `timeout_s`, and mark them interrupted (resumable). Killing a worker outright
        could cut a checkpoint in half."""
        import time

        with self.db.session() as s:
            running = [j for j in s.scalars(select(JobRow).where(JobRow.status == JobStatus.RUNNING,
                                                                 JobRow.kind == JobKind.TRAIN))
                       if j.id in self.handles and j.run_name]
        for job in running:
            stop = self.runs_dir / str(job.run_name) / STOP_FILE
            stop.write_text(json.dumps({"job": job.id, "reason": "studio shutdown"}))
        deadline = time.monotonic() + timeout_s
        while running and time.monotonic() < deadline and not all(self.engine.done(self.handles[j.id])
                                                                   for j in running):
            time.sleep(0.1)
        with self.db.session() as s:
            for job in running:
                row = s.get(JobRow, job.id)
                if row is not None and row.status == JobStatus.RUNNING:
                    self._progress(s, row)
                    self.set_status(s, row, JobStatus.INTERRUPTED, "the studio stopped while this job ran; resume it")

    # ---------- actions ----------

    def cancel(self, job_id: str) -> None:
        with self.db.session() as s:
            job = s.get(JobRow, job_id)
            if job is None or job.status in TERMINAL:
                return
            if job.status == JobStatus.QUEUED:
                self.set_status(s, job, JobStatus.CANCELLED, "cancelled before it started")
                return
            job.cancel_requested = now()
            if job.run_name:  # the runner stops at its next batch; checkpoints stay intact
                stop = self.runs_dir / job.run_name / STOP_FILE
                stop.parent.mkdir(parents=True, exist_ok=True)
                stop.write_text(json.dumps({"job": job.id, "requested": now().isoformat()}))
            elif job.id in self.handles:
                self.engine.kill(self.handles[job.id])

    def resume(self, job_id: str) -> None:
        with self.db.session() as s:
            job = s.get(JobRow, job_id)
            if job is None or job.run_name is None:
                return
            options = {"resume": job.run_name, "device": job.params["options"].get("device", "auto")}
            job.params = {**job.params, "options": options}
            job.error = None
            self.set_status(s, job, JobStatus.QUEUED)
