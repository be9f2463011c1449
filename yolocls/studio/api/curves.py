"""/api/v1/datasets/{id}/learning-curve: start a learning-curve job on a dataset, and read the latest curve (its
points, the verdict, the plot)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import Field
from sqlalchemy import select

from yolocls.core.errors import ConfigError, DatasetError
from yolocls.core.runlayout import CURVE_JSON as JSON_NAME
from yolocls.core.runlayout import CURVE_PLOT as PLOT_NAME
from yolocls.data.manifest import load_manifest
from yolocls.data.subset import DEFAULT_FRACTIONS, subset_counts
from yolocls.studio.api.jobs import Invalid, checked_dataset, data_folder, train_fields
from yolocls.studio.job_events import new_id
from yolocls.studio.jobmodel import JobKind, JobStatus
from yolocls.studio.models import JobRow
from yolocls.studio.schemas import JobCreate, JobOut
from yolocls.studio.service import NotFound, Studio, studio_of

router = APIRouter(prefix="/datasets", tags=["datasets"])


class CurveCreate(JobCreate):
    dataset: str = Field(default="", description="Taken from the URL")
    fractions: list[float] = Field(default_factory=lambda: list(DEFAULT_FRACTIONS), min_length=2, max_length=10,
                                   description="Fractions of each class's training images, each in (0, 1]")


@router.post("/{dataset_id}/learning-curve", status_code=202, response_model=JobOut,
             summary="Train on growing fractions of each class and say whether more images would help")
def start_curve(request: Request, dataset_id: str, req: CurveCreate) -> JobOut:
    studio = studio_of(request)
    req, dataset = checked_dataset(studio, dataset_id, req)
    fractions = sorted(set(req.fractions))
    try:
        if len(fractions) < 2 or any(not 0 < f <= 1 for f in fractions):
            raise ConfigError("need at least two different fractions, each in (0, 1]")
        manifest = load_manifest(studio.settings.home / "datasets" / dataset.name)
        for fraction in fractions:
            subset_counts(manifest, fraction)
    except (ConfigError, DatasetError) as exc:
        raise Invalid(f"fractions: {studio.settings.relative(str(exc))}") from None
    job_id = new_id()
    options = {"data": data_folder(studio, dataset, req), "fractions": fractions, "train": train_fields(req),
               "name": f"{dataset.name}-curve-{job_id}"}
    with studio.db.session() as s:
        studio.scheduler.queue_job(s, JobKind.CURVE, job_id, dataset_id=dataset.id,
                                   params={"request": req.model_dump(), "options": options})
    return studio.job_out(studio.job_row(job_id))


def _latest(studio: Studio, dataset_id: str) -> tuple[JobRow, Any] | None:
    studio.dataset_row(dataset_id)  # 404 when missing
    with studio.db.session() as s:
        jobs = s.scalars(select(JobRow).where(JobRow.dataset_id == dataset_id, JobRow.kind == JobKind.CURVE,
                                              JobRow.status == JobStatus.COMPLETED).order_by(JobRow.ended.desc()))
        for job in jobs:
            folder = studio.scheduler.runs_dir / str(job.params.get("curve"))
            if (folder / JSON_NAME).is_file():
                return job, folder
    return None


@router.get("/{dataset_id}/learning-curve", summary="The dataset's latest learning curve: points, fit, verdict "
            "(`job` null and no points while it has none)")
def get_curve(request: Request, dataset_id: str) -> dict[str, Any]:
    studio = studio_of(request)
    latest = _latest(studio, dataset_id)
    if latest is None:
        return {"job": None, "folder": None, "verdict": None, "points": [], "fit": None, "gain_per_doubling": None,
                "plot": None}
    job, folder = latest
    curve = json.loads((folder / JSON_NAME).read_text(encoding="utf-8"))
    return {"job": job.id, "folder": folder.name, "verdict": curve["verdict"], "points": curve["points"],
            "fit": curve["fit"], "gain_per_doubling": curve["gain_per_doubling"],
            "plot": f"/api/v1/datasets/{dataset_id}/learning-curve/plot"}


@router.get("/{dataset_id}/learning-curve/plot", response_class=FileResponse,
            summary="The latest learning curve's plot (PNG)")
def curve_plot(request: Request, dataset_id: str) -> FileResponse:
    latest = _latest(studio_of(request), dataset_id)
    if latest is None:
        raise NotFound(f"dataset {dataset_id} has no learning curve yet: POST /datasets/{dataset_id}/learning-curve")
    return FileResponse(latest[1] / PLOT_NAME, media_type="image/png")
