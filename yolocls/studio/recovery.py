"""Recovery of jobs whose worker is gone: after a restart of the studio, a lost node, or a lost job engine
(a dead Ray driver or cluster head): training interrupted and resumable (by itself when YOLOCLS_AUTO_RESUME
allows), preparations and deployments queued again."""

from __future__ import annotations

import json
import shutil
from typing import Any

from sqlalchemy import select

from yolocls.studio.db import Database
from yolocls.studio.job_events import JobEvents
from yolocls.studio.jobmodel import JobKind, JobStatus
from yolocls.studio.jobs import Handle, JobEngine
from yolocls.studio.models import DatasetRow, JobRow
from yolocls.studio.published import clean_staging, mark_ready, published
from yolocls.training.rundir import STOP_FILE, checkpoint_exists, weights_path


class Recovery(JobEvents):
    """The scheduler's recovery half (the scheduler sets these attributes)."""

    db: Database
    engine: JobEngine
    handles: dict[str, Handle]
    waiting: dict[str, str]

    def recover(self, reason: str = "the studio stopped while this job ran; resume it") -> None:
        """After a crash, a restart or a lost job engine: running training jobs are interrupted (resumable); a
        preparation whose dataset was already published is completed, any other starts again from its saved
        upload; queued jobs stay queued."""
        datasets = self.settings.folder("datasets")
        with self.db.session() as s:
            clean_staging(datasets, s)
            for job in s.scalars(select(JobRow).where(JobRow.status == JobStatus.RUNNING)):
                if job.kind != JobKind.TRAIN and job.kind != JobKind.PREPARE:  # nothing registered yet: again
                    self.set_status(s, job, JobStatus.QUEUED)
                elif job.kind == JobKind.PREPARE:
                    dataset = s.get(DatasetRow, job.dataset_id) if job.dataset_id else None
                    if dataset is not None and published(datasets, dataset):
                        mark_ready(datasets, dataset)  # published just before the stop
                        self.free_upload(dataset)
                        self.set_status(s, job, JobStatus.COMPLETED)
                        continue
                    self.set_status(s, job, JobStatus.QUEUED)
                else:
                    self._interrupted(s, job, reason)

    def _interrupted(self, s: Any, job: JobRow, reason: str) -> None:
        """A training job whose worker went away: its run says interrupted (a worker still alive on a surviving
        node stops at its next batch), and it is resumed by itself when the studio is set to and it has a
        checkpoint, up to YOLOCLS_AUTO_RESUME times."""
        if job.run_name:
            stop = self.runs_dir / job.run_name / STOP_FILE
            if stop.parent.is_dir():
                stop.write_text(json.dumps({"job": job.id, "reason": reason}))
        self._mark_run_interrupted(job.run_name)
        self.set_status(s, job, JobStatus.INTERRUPTED, reason)
        tries = int(job.params.get("auto_resumed", 0))
        last = weights_path(self.runs_dir / str(job.run_name), "last")
        if tries < self.settings.auto_resume and job.run_name and checkpoint_exists(last):
            job.params = {**job.params, "auto_resumed": tries + 1}
            self._queue_resume(s, job)
            self.add_event(s, job, "progress", {"stage": "resumed automatically", "try": tries + 1,
                                                "of": self.settings.auto_resume})

    def engine_lost(self) -> None:
        """The driver is gone, and every task it had submitted with it: its jobs are recovered as after a
        restart (training interrupted and resumable; preparations and deployments queued again)."""
        if not self.handles:
            return
        self.handles.clear()
        self.waiting.clear()
        self.recover(f"the job engine was lost while this job ran ({self.engine.lost}); resume it")

    def free_upload(self, dataset: DatasetRow) -> None:
        """Delete a prepared (or refused) dataset's upload, unless the studio keeps originals
        (`YOLOCLS_KEEP_UPLOADS`): then it stays, unreachable through the API, until the dataset is deleted."""
        if not self.settings.keep_uploads:
            shutil.rmtree(self.settings.home / dataset.source, ignore_errors=True)

    def resume(self, job_id: str) -> None:
        with self.db.session() as s:
            job = s.get(JobRow, job_id)
            if job is None or job.run_name is None:
                return
            self._queue_resume(s, job)

    def _queue_resume(self, s: Any, job: JobRow) -> None:
        options = {"resume": job.run_name, "device": job.params["options"].get("device", "auto")}
        job.params = {**job.params, "options": options}
        job.error = None
        self.set_status(s, job, JobStatus.QUEUED)
