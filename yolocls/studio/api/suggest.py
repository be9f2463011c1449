"""/api/v1/datasets/{id}/suggestions and /label-check: a trained model's classes for the images still to label,
suspected label errors of a version, and accepting or keeping them (one transaction, each change recorded)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from yolocls.studio.api.auth import author_of
from yolocls.studio.api.jobs import checked_dataset, train_fields
from yolocls.studio.api.labels import working_copy
from yolocls.studio.errors import Conflict, Invalid, NotFound
from yolocls.studio.job_events import new_id
from yolocls.studio.jobmodel import JobKind, gpus_wanted
from yolocls.studio.label_schemas import MAX_BULK, BulkResult, ImageRef
from yolocls.studio.models import SuggestionRow
from yolocls.studio.placement import training_cpus
from yolocls.studio.runs import run_folder
from yolocls.studio.schemas import JobCreate, JobOut
from yolocls.studio.service import Studio, studio_of
from yolocls.studio.suggestions import WORK, of_images, write_targets
from yolocls.studio.versions import train_folder, version_row
from yolocls.studio.workcopy import add_classes, editing, image_out, image_row, write
from yolocls.training.rundir import weights_path

router = APIRouter(prefix="/datasets/{dataset_id}", tags=["labelling"])


class SuggestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, max_length=100, description="A deployed model (its default version "
                              "unless `version`)")
    version: int | None = Field(default=None, ge=1)
    run: str | None = Field(default=None, max_length=200, description="Or a run's best weights")
    images: Literal["unlabelled", "all"] = "unlabelled"


def _model_source(studio: Studio, req: SuggestRequest) -> tuple[dict[str, str], str]:
    """The job's model option (a path relative to the home) and how the suggestions name their source."""
    if (req.model is None) == (req.run is None):
        raise Invalid("give a deployed `model` (and optionally its `version`) or a `run`")
    if req.model is not None:
        row = studio.registry.version(req.model, req.version)
        path = Path(row.path)
        file = str(path.relative_to(studio.settings.home)) if path.is_relative_to(studio.settings.home) else str(path)
        return {"model_file": file}, f"model {row.model} v{row.version}"
    run_dir = run_folder(studio.scheduler.runs_dir, str(req.run))  # 404 for a name that is not a run
    weights = weights_path(run_dir, "best")
    if not weights.is_file():
        raise NotFound(f"run: '{req.run}' has no trained weights (weights/best.pt)")
    return {"weights": str(weights.relative_to(studio.settings.home))}, f"run {run_dir.name}"


@router.post("/suggestions", status_code=202, response_model=JobOut, summary="Queue a job predicting every "
             "unlabelled (or every) image's class with a deployed model or a run: the annotator then shows each "
             "suggestion and can order the images by uncertainty")
def suggest(request: Request, dataset_id: str, req: SuggestRequest) -> JobOut:
    studio = studio_of(request)
    studio.check_queue()
    working_copy(studio, dataset_id)
    model, source = _model_source(studio, req)
    job_id = new_id()
    with studio.db.session() as s:
        images = write_targets(studio.settings, s, dataset_id, job_id, req.images == "all")
        options = {**model, "images": images, "home": ".", "out": f"{WORK}/{job_id}.out.jsonl"}
        studio.scheduler.queue_job(s, JobKind.SUGGEST, job_id, dataset_id=dataset_id,
                                   params={"options": options, "source": source})
    return studio.job_out(studio.job_row(job_id), with_metrics=False)


class LabelCheckRequest(JobCreate):
    dataset: str = Field(default="", description="(the dataset of the URL)")
    folds: int = Field(default=5, ge=2, le=20, description="k of the k-fold cross-validation")


@router.post("/label-check", status_code=202, response_model=JobOut, summary="Queue a label check of a version "
             "(default: the latest): k models, each trained on the other folds, predict their own fold; cleanlab "
             "ranks the labels; the suspects become the annotator's 'suspected errors' queue")
def label_check(request: Request, dataset_id: str, req: LabelCheckRequest) -> JobOut:
    studio = studio_of(request)
    req, dataset = checked_dataset(studio, dataset_id, req)
    working_copy(studio, dataset_id)
    with studio.db.session() as s:
        folder, number = train_folder(s, dataset, req.version)
        counts = version_row(s, dataset_id, number).counts if number is not None else {}
    if number is None:
        raise Conflict("the dataset has no version yet; cut one first")
    small = {c: n for c, n in (counts or {}).items() if n < req.folds}
    if small:
        listed = ", ".join(f"'{c}' ({n})" for c, n in sorted(small.items()))
        raise Invalid(f"folds: {req.folds}-fold cross-validation needs {req.folds} images of every class; version "
                      f"{number} has fewer of {listed}: label more of them, or ask for folds: "
                      f"{max(2, min(small.values()))}")
    job_id = new_id()
    # the job itself holds one CPU; each fold is a Ray task reserving what a training job would (parallel folds
    # where the cluster has room for several)
    resources = studio.engine.resources
    gpus = gpus_wanted(req.device) if resources.gpus >= 1 else 0
    cpus = training_cpus(resources, studio.settings.train_cpus, studio.settings.cpu_training_slots, gpus,
                         spare=studio.engine.extra_cpus)
    options = {"data": folder, "folds": req.folds, "train": train_fields(req), "cpus_per_fold": cpus,
               "gpus_per_fold": gpus, "name": f"{dataset.name}-v{number}-labels-{job_id}"}
    with studio.db.session() as s:
        studio.scheduler.queue_job(s, JobKind.LABEL_CHECK, job_id, dataset_id=dataset_id,
                                   params={"options": options, "version": number})
    return studio.job_out(studio.job_row(job_id), with_metrics=False)


class Decide(BaseModel):
    model_config = ConfigDict(extra="forbid")

    images: list[ImageRef] = Field(min_length=1, max_length=MAX_BULK)
    kind: Literal["model", "error"] = Field(default="model", description="model: a model's class for unlabelled "
                                            "images; error: the class a label check suggests instead of the label")


@router.post("/suggestions/accept", response_model=BulkResult, summary="Give each image its suggested class")
def accept(request: Request, dataset_id: str, body: Decide) -> BulkResult:
    studio = studio_of(request)
    working_copy(studio, dataset_id)
    with editing(studio.db, dataset_id) as s:
        rows = [image_row(s, dataset_id, r.id) for r in body.images]
        found = of_images(s, [r.id for r in rows])
        seen = {r.id: r.revision for r in body.images}
        stale = [r for r in rows if r.revision != seen[r.id]]
        todo = [(r, found[(r.id, body.kind)]) for r in rows if r not in stale and (r.id, body.kind) in found]
        add_classes(s, dataset_id, sorted({sg.label for _, sg in todo}))
        write(s, dataset_id, [(r, sg.label) for r, sg in todo if r.label != sg.label], author_of(request))
        for _, sg in todo:
            sg.decision = "accepted" if body.kind == "error" else sg.decision
        s.flush()
        after = of_images(s, [r.id for r in rows])
        return BulkResult(changed=[image_out(image_row(s, dataset_id, r.id), after) for r, _ in todo],
                          conflicts=[image_out(r, after) for r in stale])


class Keep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    images: list[int] = Field(min_length=1, max_length=MAX_BULK)


@router.post("/suggestions/keep", status_code=204, summary="Keep these images' labels: a label check's suggestion "
             "is not shown again for the version it read")
def keep(request: Request, dataset_id: str, body: Keep) -> None:
    studio = studio_of(request)
    working_copy(studio, dataset_id)
    with editing(studio.db, dataset_id) as s:
        rows = list(s.scalars(select(SuggestionRow).where(SuggestionRow.dataset_id == dataset_id,
                                                          SuggestionRow.kind == "error",
                                                          SuggestionRow.image_id.in_(body.images))))
        if len(rows) != len(set(body.images)):
            raise NotFound("some of these images have no suspected error to keep")
        for row in rows:
            row.decision = "kept"



class CaptureImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(max_length=100, description="The deployed model whose captured images to add")


@router.post("/captures/import", status_code=202, response_model=JobOut, summary="Add the images a deployed model "
             "captured in production to the working copy, unlabelled, each checked like an upload and with its "
             "prediction as a suggestion (images the dataset has already are left out)")
def import_captures(request: Request, dataset_id: str, body: CaptureImport) -> JobOut:
    studio = studio_of(request)
    studio.check_queue()
    row = working_copy(studio, dataset_id)
    studio.registry.version(body.model, None)  # 404 for a model that does not exist
    folder = studio.registry.captures.folder / body.model
    if not folder.is_dir() or not any(folder.iterdir()):
        raise Conflict(f"model '{body.model}' has captured nothing yet (turn capture on: PUT /models/{body.model}"
                       "/capture)")
    home = studio.settings.home
    job_id = new_id()
    options = {"folder": str(folder.relative_to(home)), "list": f".studio/ingest/{job_id}",
               "pool": (row.options or {}).get("pool") or f".studio/pool/{dataset_id}"}
    with studio.db.session() as s:
        studio.scheduler.queue_job(s, JobKind.INGEST, job_id, dataset_id=dataset_id, params={
            "options": options, "append": True, "prefix": f"captured/{body.model}",
            "source": f"captured by {body.model}"})
    return studio.job_out(studio.job_row(job_id), with_metrics=False)
