"""/api/v1/datasets/{id}/versions: cut a version of the labels (built by a job, like `yolocls prepare`), list
versions, compare two."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from yolocls.studio.api.auth import author_of
from yolocls.studio.api.labels import working_copy
from yolocls.studio.jobmodel import JobKind
from yolocls.studio.label_schemas import VersionDiff, VersionOut
from yolocls.studio.schemas import JobOut
from yolocls.studio.service import studio_of
from yolocls.studio.versions import cut, diff, version_out, version_row, versions
from yolocls.studio.workcopy import editing

router = APIRouter(prefix="/datasets/{dataset_id}/versions", tags=["labelling"])


class VersionCreated(BaseModel):
    version: VersionOut
    job: JobOut


@router.post("", status_code=202, response_model=VersionCreated, summary="Cut a version: freeze the labels and "
             "build them as a dataset (stratified, leakage-safe splits that stay put across versions)")
def create_version(request: Request, dataset_id: str) -> VersionCreated:
    studio = studio_of(request)
    studio.check_queue()
    row = working_copy(studio, dataset_id)
    with editing(studio.db, dataset_id) as s:
        version = cut(s, studio.settings, row, author_of(request))
        options = {"snapshot": version.snapshot, "home": ".", "out": version.folder}
        job = studio.scheduler.queue_job(s, JobKind.VERSION, dataset_id=dataset_id, params={
            "options": options, "version": version.number})
        version.job_id = job.id
        s.flush()
        out, job_id = version_out(version), job.id
    return VersionCreated(version=out, job=studio.job_out(studio.job_row(job_id)))


@router.get("", response_model=list[VersionOut])
def list_versions(request: Request, dataset_id: str) -> list[VersionOut]:
    studio = studio_of(request)
    studio.dataset_row(dataset_id)  # 404; a dataset never labelled here has no versions yet (nothing is made)
    with studio.db.session() as s:
        return [version_out(v) for v in versions(s, dataset_id)]


@router.get("/{number}", response_model=VersionOut)
def get_version(request: Request, dataset_id: str, number: int) -> VersionOut:
    studio = studio_of(request)
    with studio.db.session() as s:
        return version_out(version_row(s, dataset_id, number))


@router.get("/{number}/diff", response_model=VersionDiff, summary="Images added, removed and relabelled since "
            "another version (default: the one before), and the classes' counts in both")
def version_diff(request: Request, dataset_id: str, number: int,
                 base: int | None = Query(default=None, ge=1)) -> VersionDiff:
    studio = studio_of(request)
    with studio.db.session() as s:
        target = version_row(s, dataset_id, number)
        before = version_row(s, dataset_id, base if base is not None else number - 1)
    return diff(studio.settings, before, target)
