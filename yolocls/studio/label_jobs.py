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
from yolocls.studio.jobmodel import IngestResult, JobStatus, VersionResult
from yolocls.studio.models import DatasetRow, JobRow, VersionRow
from yolocls.studio.versions import built, insert_pool

log = logging.getLogger("yolocls.studio")


class LabelJobs(JobEvents):
    """Mixed into the scheduler (which provides `free_upload` and the settings)."""

    free_upload: Callable[[DatasetRow], None]  # Recovery's

    def finish_labelling(self, s: Any, job: JobRow, result: IngestResult | VersionResult) -> None:
        if isinstance(result, IngestResult):
            self._finish_ingest(s, job, result)
        else:
            self._finish_version(s, job, result)

    def _finish_ingest(self, s: Any, job: JobRow, result: IngestResult) -> None:
        dataset = s.get(DatasetRow, job.dataset_id) if job.dataset_id else None
        if dataset is None:
            self.set_status(s, job, JobStatus.FAILED, "the dataset was deleted")
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
