"""Job lifecycle: queue, start on Ray when a slot is free, follow progress, finish, cancel, resume, recover.

State lives in the database; the run folders (run.json, epochs.jsonl) are the source of training progress,
so the same code follows a job on this machine or on any node of a cluster with shared storage.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from yolocls import __version__
from yolocls.core.errors import YoloclsError
from yolocls.studio.db import Database
from yolocls.studio.job_events import aware, now
from yolocls.studio.jobmodel import (
    KINDS,
    LABEL_RESULTS,
    SLOT_OF,
    TERMINAL,
    TRAINS,
    CurveResult,
    ExportResult,
    JobKind,
    JobResult,
    JobStatus,
    PrepareResult,
    SweepResult,
    TrainResult,
    gpus_wanted,
)
from yolocls.studio.jobs import EngineUnavailable, Handle, JobEngine
from yolocls.studio.label_jobs import LabelJobs
from yolocls.studio.models import DatasetRow, JobRow
from yolocls.studio.placement import training_cpus, waiting_reason
from yolocls.studio.published import mark_ready
from yolocls.studio.recovery import Recovery
from yolocls.studio.settings import StudioSettings
from yolocls.studio.work_options import device_of, worker_options
from yolocls.training.rundir import STOP_FILE

log = logging.getLogger("yolocls.studio")
RESOURCES_S = 5.0  # how often the cluster's nodes and free resources are read again
WAITING_AFTER_S = 3.0  # a handed-over job not started after this long says why it waits


# (session, model, run name, exported file, result) -> the version registered
Register = Callable[[Any, str, str, Path, ExportResult], Any]


class Scheduler(LabelJobs, Recovery):
    def __init__(self, settings: StudioSettings, db: Database, engine: JobEngine, register: Register) -> None:
        super().__init__(settings)
        self.db, self.engine, self.register = db, engine, register
        self.handles: dict[str, Handle] = {}
        self.asks: dict[str, dict[str, int]] = {}  # what each handed-over job asked Ray for
        self.waiting: dict[str, str] = {}  # why Ray has not started a handed-over job yet
        self._handed: dict[str, float] = {}
        self._resources_read = 0.0

    # ---------- startup ----------

    # ---------- the loop body ----------

    def tick(self) -> None:
        if not self._engine_ready():
            return
        try:
            with self.db.session() as s:
                running = list(s.scalars(select(JobRow).where(JobRow.status == JobStatus.RUNNING)))
                for job in running:
                    self._follow(s, job)
                for job in s.scalars(select(JobRow).where(JobRow.status == JobStatus.QUEUED)):
                    if job.id in self.handles:
                        self._check_started(s, job)
                self._start_queued(s)
        except EngineUnavailable:
            self.engine_lost()

    def _engine_ready(self) -> bool:
        """The engine answers (its view of the cluster re-read every few seconds); when it does not, its jobs are
        recovered once and a new driver is tried every YOLOCLS_RECONNECT_S."""
        if self.engine.check():
            if time.monotonic() - self._resources_read >= RESOURCES_S:
                self._resources_read = time.monotonic()
                try:
                    self.engine.refresh()
                except EngineUnavailable:
                    pass
        if self.engine.available:
            return True
        self.engine_lost()
        if time.monotonic() - self.engine.lost_at < self.settings.reconnect_s:
            return False
        return self.engine.reconnect()

    def _start_queued(self, s: Any) -> None:
        # running jobs and those handed to Ray that have not started yet both hold their slot
        running = [j for j in s.scalars(select(JobRow).where(JobRow.status.in_((JobStatus.RUNNING, JobStatus.QUEUED))))
                   if j.status == JobStatus.RUNNING or j.id in self.handles]
        slots = {JobKind.PREPARE: self.settings.prepare_slots, JobKind.DEPLOY: self.settings.deploy_slots,
                 JobKind.TRAIN: self.engine.training_slots(self.settings.cpu_training_slots)}
        group = SLOT_OF
        free = {kind: n - sum(group[JobKind(j.kind)] == kind for j in running) for kind, n in slots.items()}
        for job in s.scalars(select(JobRow).where(JobRow.status == JobStatus.QUEUED).order_by(JobRow.created)):
            slot = group[JobKind(job.kind)]
            if job.id in self.handles or free[slot] <= 0:
                continue
            free[slot] -= 1
            self._start(s, job)

    def started_path(self, job_id: str) -> Path:
        return self.logs_dir / f"{job_id}.started"

    def _start(self, s: Any, job: JobRow) -> None:
        """Hand the job to Ray. It stays `queued` until its worker says it started (`_check_started`): Ray may
        wait for a node, a GPU or a free CPU, and a job waiting there is not running."""
        if job.kind == JobKind.TRAIN and job.run_name:
            (self.runs_dir / job.run_name / STOP_FILE).unlink(missing_ok=True)
        self.started_path(job.id).unlink(missing_ok=True)
        work = KINDS[JobKind(job.kind)]
        options = {**worker_options(job, self.settings.home, self.runs_dir, self.progress_path(job.id)),
                   "started_file": str(self.started_path(job.id)), "studio_version": __version__}
        gpus, cpus = 0, 1
        if job.kind in TRAINS and job.kind not in (JobKind.SWEEP, JobKind.LABEL_CHECK):  # they reserve per task
            gpus = gpus_wanted(device_of(job)) if self.engine.resources.gpus >= 1 else 0
            cpus = training_cpus(self.engine.resources, self.settings.train_cpus, self.settings.cpu_training_slots,
                                 gpus, spare=self.engine.extra_cpus)
            options["cpu_threads"] = cpus
        self.handles[job.id] = self.engine.submit(work, options, str(self.log_path(job.id)), gpus=gpus, cpus=cpus)
        self.asks[job.id] = self.engine.asks(work, gpus, cpus)
        self._handed[job.id] = time.monotonic()
        job.cancel_requested = None

    def _check_started(self, s: Any, job: JobRow) -> None:
        """A handed-over job becomes `running` when its worker has started (or already ended); one Ray has not
        placed after a few seconds says why (what it asks for against what the nodes have)."""
        if self.started_path(job.id).exists() or self.engine.done(self.handles[job.id]):
            self.waiting.pop(job.id, None)
            self.set_status(s, job, JobStatus.RUNNING)
            return
        if time.monotonic() - self._handed.get(job.id, 0.0) < WAITING_AFTER_S:
            return
        reason = waiting_reason(self.asks.get(job.id, {}), self.engine.resources)
        if reason != self.waiting.get(job.id):
            self.waiting[job.id] = reason
            self.add_event(s, job, "progress", {"stage": "waiting", "reason": reason})

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

    def _finish(self, s: Any, job: JobRow, result: JobResult) -> None:
        if isinstance(result, PrepareResult):
            self._finish_prepare(s, job, result)
            return
        if isinstance(result, ExportResult):
            self._finish_deploy(s, job, result)
            return
        if isinstance(result, LABEL_RESULTS):
            self._prepare_progress(s, job)
            self.finish_labelling(s, job, result)
            return
        if isinstance(result, (CurveResult, SweepResult)):
            self._prepare_progress(s, job)
            summary = {"curve": result.folder} if isinstance(result, CurveResult) else \
                {"sweep": {"folder": result.folder, "best": result.best, "trials": result.trials}}
            job.params = {**job.params, **summary}
            status = JobStatus.CANCELLED if job.cancel_requested is not None and not result.ok else \
                JobStatus.COMPLETED if result.ok else JobStatus.FAILED
            self.set_status(s, job, status, "cancelled" if status == JobStatus.CANCELLED else result.error)
            return
        if not isinstance(result, TrainResult):
            raise TypeError(f"job {job.id} ({job.kind}) returned {type(result).__name__}")
        self._progress(s, job)
        self._last_progress.pop(job.id, None)
        if job.cancel_requested is not None and result.status != "completed":
            self.set_status(s, job, JobStatus.CANCELLED, "cancelled; resume continues from the last checkpoint")
        elif result.lost:  # its process or node went away mid-run: the run's checkpoints are still there
            self._interrupted(s, job, f"{result.error}; resume it from its last checkpoint")
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

    def _finish_deploy(self, s: Any, job: JobRow, result: ExportResult) -> None:
        """Register the exported model as the next version, unless the job was cancelled; the job's own
        exported file never outlives it."""
        self._prepare_progress(s, job)
        self._last_progress.pop(job.id, None)
        incoming = self.settings.home / job.params["options"]["incoming"]
        try:
            if job.cancel_requested is not None:
                self.set_status(s, job, JobStatus.CANCELLED, "cancelled; nothing was registered")
            elif not result.ok:
                self.set_status(s, job, JobStatus.FAILED, result.error)
            else:
                self.add_event(s, job, "progress", {"stage": "registration"})
                version = self.register(s, job.params["model"], str(job.run_name), incoming, result)
                job.params = {**job.params, "deployed": version.model_dump(mode="json")}
                self.set_status(s, job, JobStatus.COMPLETED)
        except YoloclsError as exc:
            self.set_status(s, job, JobStatus.FAILED, str(exc))
        finally:
            incoming.unlink(missing_ok=True)

    def stop_running(self, timeout_s: float) -> None:
        """Studio shutdown: ask running training jobs to stop at their next batch (checkpoints complete),
        wait for them up to `timeout_s`, and mark them interrupted (resumable). Killing a worker outright
        could cut a checkpoint in half. With the engine already lost, its jobs were recovered then."""
        try:
            self._stop_running(timeout_s)
        except EngineUnavailable:
            self.engine_lost()

    def _stop_running(self, timeout_s: float) -> None:
        with self.db.session() as s:
            running = [j for j in s.scalars(select(JobRow).where(JobRow.status == JobStatus.RUNNING,
                                                                 JobRow.kind == JobKind.TRAIN))
                       if j.id in self.handles and j.run_name]
        for job in running:
            stop = self.runs_dir / str(job.run_name) / STOP_FILE
            stop.parent.mkdir(parents=True, exist_ok=True)  # a job just handed to Ray may not have its folder yet
            stop.write_text(json.dumps({"job": job.id, "reason": "studio shutdown"}))
        deadline = time.monotonic() + timeout_s
        while running and time.monotonic() < deadline and not all(self.engine.done(self.handles[j.id])
                                                                   for j in running):
            time.sleep(0.1)
        with self.db.session() as s:
            for job in running:
                row = s.get(JobRow, job.id)
                if row is None or row.status != JobStatus.RUNNING:
                    continue
                handle = self.handles[job.id]
                result = self.engine.result(handle) if self.engine.done(handle) else None
                if isinstance(result, TrainResult) and result.status == "completed":
                    self._finish(s, row, result)  # it ended on its own just before: completed, not interrupted
                    continue
                self._progress(s, row)
                self._mark_run_interrupted(row.run_name)
                self.set_status(s, row, JobStatus.INTERRUPTED, "the studio stopped while this job ran; resume it")


    # ---------- actions ----------

    def cancel(self, job_id: str) -> None:
        with self.db.session() as s:
            job = s.get(JobRow, job_id)
            if job is None or job.status in TERMINAL:
                return
            if job.status == JobStatus.QUEUED:  # waiting here or in Ray for resources: nothing ran, nothing kept
                handle = self.handles.pop(job.id, None)
                if handle is not None:
                    self.engine.kill(handle)
                self.set_status(s, job, JobStatus.CANCELLED, "cancelled before it started")
                return
            job.cancel_requested = now()
            if job.kind == JobKind.TRAIN and job.run_name:  # the runner stops at its next batch, checkpoints intact
                stop = self.runs_dir / job.run_name / STOP_FILE
                stop.parent.mkdir(parents=True, exist_ok=True)
                stop.write_text(json.dumps({"job": job.id, "requested": now().isoformat()}))
            elif job.id in self.handles:
                self.engine.kill(self.handles[job.id])
