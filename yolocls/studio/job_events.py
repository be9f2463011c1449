"""A job's events and progress: status changes (checked against the job model's transitions), epochs and batch
progress read from run folders, stages read from the progress files workers write. The scheduler is one of
these; `new_id`, `now` and `aware` are the studio's ids and times."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from yolocls.core.progress import read_progress
from yolocls.studio.jobmodel import TERMINAL, JobKind, JobStatus, check_transition
from yolocls.studio.models import EventRow, JobRow
from yolocls.studio.settings import StudioSettings
from yolocls.training.batch_progress import read_progress as read_batch_progress
from yolocls.training.rundir import load_run_record, read_epochs


def new_id() -> str:
    return secrets.token_hex(6)


def now() -> datetime:
    return datetime.now(timezone.utc)


def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


class JobEvents:
    def __init__(self, settings: StudioSettings) -> None:
        self.settings = settings
        self.runs_dir = settings.folder("runs")
        self.logs_dir = settings.folder(".studio/logs")
        self._last_progress: dict[str, dict[str, Any]] = {}

    def queue_job(self, session: Any, kind: JobKind, job_id: str | None = None, **fields: Any) -> JobRow:
        """A new job, `queued`, with its first status event: how every kind of job is created."""
        job = JobRow(id=job_id or new_id(), kind=kind.value, status=JobStatus.QUEUED.value, epochs_done=0,
                     **{"epochs_planned": 0, **fields})
        session.add(job)
        self.add_event(session, job, "status", {"status": JobStatus.QUEUED.value, "error": None, "run": job.run_name})
        return job

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
