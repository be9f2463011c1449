"""The scheduler's labelling half: what happens when an upload for labelling has been checked (its images become
the dataset's working copy) and when a dataset version has been built (it becomes the dataset's current one)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from yolocls.data.manifest import manifest_summary
from yolocls.data.pool import SCAN_FILE, read_pool
from yolocls.studio.job_events import JobEvents
from yolocls.studio.jobmodel import IngestResult, JobStatus, LabelCheckResult, SuggestResult, VersionResult
from yolocls.studio.models import DatasetRow, JobRow, VersionRow
from yolocls.studio.suggestions import store_label_issues, store_model_suggestions
from yolocls.studio.versions import add_captured, built, insert_pool

log = logging.getLogger("yolocls.studio")


class LabelJobs(JobEvents):
    """Mixed into the scheduler (which provides `free_upload` and the settings)."""

    free_upload: Callable[[DatasetRow], None]  # Recovery's

    def finish_labelling(self, s: Any, job: JobRow,
                         result: IngestResult | VersionResult | SuggestResult | LabelCheckResult) -> None:
        if isinstance(result, IngestResult):
            self._finish_ingest(s, job, result)
        elif isinstance(result, VersionResult):
            self._finish_version(s, job, result)
        else:
            self._finish_suggestions(s, job, result)

    def _finish_suggestions(self, s: Any, job: JobRow, result: SuggestResult | LabelCheckResult) -> None:
        """A model's classes, or a label check's suspects, stored as the images' suggestions."""
        if job.cancel_requested is not None or not result.ok:
            cancelled = job.cancel_requested is not None
            self.set_status(s, job, JobStatus.CANCELLED if cancelled else JobStatus.FAILED,
                            "cancelled" if cancelled else result.error)
            return
        if isinstance(result, SuggestResult):
            out = self.settings.home / job.params["options"]["out"]
            stored = store_model_suggestions(s, str(job.dataset_id), out, job.params["source"])
            for work in (out, self.settings.home / job.params["options"]["images"]):
                work.unlink(missing_ok=True)
        else:
            version = s.scalar(select(VersionRow).where(VersionRow.dataset_id == job.dataset_id,
                                                        VersionRow.number == job.params["version"]))
            stored = store_label_issues(s, version, self.runs_dir / str(result.folder)) if version else 0
            job.params = {**job.params, "folder": result.folder}
        job.params = {**job.params, "stored": stored}
        self.set_status(s, job, JobStatus.COMPLETED)

    def _finish_ingest(self, s: Any, job: JobRow, result: IngestResult) -> None:
        dataset = s.get(DatasetRow, job.dataset_id) if job.dataset_id else None
        if dataset is None:
            self.set_status(s, job, JobStatus.FAILED, "the dataset was deleted")
            return
        if job.params.get("append"):
            self._finish_captured(s, job, dataset, result)
            return
        self.free_upload(dataset)
        pool_rel = job.params["options"]["pool"]
        if not result.ok or not result.images:
            error = result.error or "no usable image in the upload (see the job's log for each file's reason)"
            dataset.status, dataset.error = "failed", self.settings.relative(error)
            shutil.rmtree(self.settings.home / pool_rel, ignore_errors=True)
            self.set_status(s, job, JobStatus.FAILED, error)
            return
        images = read_pool(self.settings.home / pool_rel)
        insert_pool(s, dataset.id, pool_rel, images)
        dataset.status, dataset.error = "labelling", None
        dataset.options = {**(dataset.options or {}), "pool": pool_rel, "scan": f"{pool_rel}/{SCAN_FILE}",
                           "summary": {"images": len(images), "skipped_count": result.skipped,
                                       "labelled": sum(im.label is not None for im in images)}}
        self.set_status(s, job, JobStatus.COMPLETED)

    def _finish_captured(self, s: Any, job: JobRow, dataset: DatasetRow, result: IngestResult) -> None:
        """Captured images added to a dataset's working copy as unlabelled (those it has already left out), with
        the prediction each got in production as its suggestion."""
        options = job.params["options"]
        listing = self.settings.home / options["list"]
        try:
            if not result.ok:
                self.set_status(s, job, JobStatus.FAILED, result.error)
                return
            added = add_captured(s, dataset.id, options["pool"], read_pool(listing), job.params["prefix"],
                                 listing / "captured.jsonl", job.params["source"])
            job.params = {**job.params, "added": added, "checked": result.images, "skipped": result.skipped}
            self.set_status(s, job, JobStatus.COMPLETED)
        finally:
            shutil.rmtree(listing, ignore_errors=True)

    def _finish_version(self, s: Any, job: JobRow, result: VersionResult) -> None:
        row = s.scalar(select(VersionRow).where(VersionRow.job_id == job.id))
        dataset = s.get(DatasetRow, job.dataset_id) if job.dataset_id else None
        if row is None or dataset is None:
            self.set_status(s, job, JobStatus.FAILED, "the dataset or its version was deleted")
            return
        if job.cancel_requested is not None or not result.ok:
            row.status = "failed"
            row.error = "cancelled" if job.cancel_requested is not None else self.settings.relative(str(result.error))
            self.set_status(s, job, JobStatus.CANCELLED if job.cancel_requested is not None else JobStatus.FAILED,
                            row.error)
            return
        manifest = built(s, self.settings, row, dataset)
        dataset.options = {**(dataset.options or {}), "folder": row.folder, "version": row.number,
                           "summary": manifest_summary(manifest)}
        self.set_status(s, job, JobStatus.COMPLETED)
