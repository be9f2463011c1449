"""/api/v1/runs/{name}/source: where a run's images come from in the studio (its dataset, the version it trained
on, each shown image's current label and revision), so a page can relabel an image where a mistake is found;
the change goes to the dataset's working copy like any other (PUT /datasets/{id}/images/{image}/label)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from yolocls.data.version_build import image_id_of
from yolocls.studio.label_schemas import ClassOut, ImageOut
from yolocls.studio.models import ImageRow, VersionRow
from yolocls.studio.runs import run_folder
from yolocls.studio.service import studio_of
from yolocls.studio.versions import latest_ready
from yolocls.studio.workcopy import changed_count, classes_out, image_out
from yolocls.training.rundir import dataset_of_run

router = APIRouter(prefix="/runs", tags=["labelling"])


class RunSource(BaseModel):
    dataset: str | None = Field(description="The studio dataset the run trained on (null: not a studio dataset)")
    version: int | None = None
    last_version: int | None = None
    changed: int = Field(default=0, description="Label changes in the dataset's working copy since its last version")
    classes: list[ClassOut] = Field(default_factory=list)
    images: dict[str, ImageOut] = Field(default_factory=dict, description="Path inside the run's dataset -> the "
                                        "image in the working copy, now")


@router.get("/{name}/source", response_model=RunSource, summary="The dataset version a run trained on, and the "
            "current labels of some of its images (to relabel them where a mistake is seen)")
def run_source(request: Request, name: str, paths: list[str] = Query(default=[], max_length=200)) -> RunSource:
    studio = studio_of(request)
    run_dir = run_folder(studio.scheduler.runs_dir, name)
    try:
        folder = f"datasets/{dataset_of_run(run_dir, None).name}"
    except Exception:
        return RunSource(dataset=None)
    with studio.db.session() as s:
        version = s.scalar(select(VersionRow).where(VersionRow.folder == folder))
        if version is None:
            return RunSource(dataset=None)
        dataset_id = version.dataset_id
        found: dict[str, ImageOut] = {}
        for path in paths:
            row = s.scalar(select(ImageRow).where(ImageRow.dataset_id == dataset_id,
                                                  ImageRow.file == f"{folder}/{path}"))
            image_id = image_id_of(path)
            if row is None and image_id is not None:
                row = s.get(ImageRow, image_id)
            if row is not None and row.dataset_id == dataset_id:
                found[path] = image_out(row)
        last = latest_ready(s, dataset_id)
        return RunSource(dataset=dataset_id, version=version.number, last_version=last.number if last else None,
                         changed=changed_count(s, dataset_id), classes=classes_out(s, dataset_id), images=found)
