"""/api/v1/runs: the leaderboard (CLI runs too), one run, its report files, its evaluation preview, deploy."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from yolocls.evaluation.summary import RunSummary, leaderboard
from yolocls.studio import runs as run_views
from yolocls.studio.job_events import new_id
from yolocls.studio.jobmodel import JobKind
from yolocls.studio.schemas import ConfusionOut, DeployRequest, JobOut, PredictionRow, PreviewOut, RunDetail
from yolocls.studio.service import Conflict, studio_of
from yolocls.studio.thumbs import THUMB_MAX, image_response
from yolocls.training.rundir import weights_path

router = APIRouter(prefix="/runs", tags=["runs"])


@router.get("", response_model=list[RunSummary])
def list_runs(request: Request) -> list[RunSummary]:
    studio = studio_of(request)
    rows = leaderboard(studio.scheduler.runs_dir)
    for row in rows:  # datasets as paths relative to the home, as every answer names files
        row.dataset = studio.settings.relative(row.dataset) if row.dataset else row.dataset
    return rows


@router.get("/{name}", response_model=RunDetail)
def get_run(request: Request, name: str) -> RunDetail:
    studio = studio_of(request)
    out = run_views.detail(run_views.run_folder(studio.scheduler.runs_dir, name))
    out.record = studio.settings.relative_json(out.record)
    out.report = studio.settings.relative_json(out.report)
    return out


@router.get("/{name}/files/{path:path}", response_class=FileResponse)
def run_file(request: Request, name: str, path: str) -> FileResponse:
    run_dir = run_views.run_folder(studio_of(request).scheduler.runs_dir, name)
    return FileResponse(run_views.run_file(run_dir, path))


@router.get("/{name}/images/{path:path}", response_class=FileResponse,
            summary="An image of the run's dataset (preview, predictions); ?size=N gives a thumbnail")
async def run_image(request: Request, name: str, path: str,
                    size: int | None = Query(default=None, ge=16, le=THUMB_MAX)) -> FileResponse:
    studio = studio_of(request)
    image = run_views.dataset_image(run_views.run_folder(studio.scheduler.runs_dir, name), path)
    return await asyncio.to_thread(image_response, image, size, studio.settings.folder(".studio/thumbs"))


@router.get("/{name}/confusion", response_model=ConfusionOut, summary="The report's confusion matrix")
def run_confusion(request: Request, name: str) -> ConfusionOut:
    return run_views.confusion(run_views.run_folder(studio_of(request).scheduler.runs_dir, name))


@router.get("/{name}/predictions", response_model=list[PredictionRow],
            summary="The report's predictions, filtered; most confident first")
async def run_predictions(request: Request, name: str, true: str | None = None, predicted: str | None = None,
                          wrong: bool = False, limit: int = Query(default=100, ge=1, le=5000)
                          ) -> list[PredictionRow]:
    run_dir = run_views.run_folder(studio_of(request).scheduler.runs_dir, name)
    return await asyncio.to_thread(run_views.predictions, run_dir, true, predicted, wrong, limit)


@router.get("/{name}/preview", response_model=PreviewOut)
def run_preview(request: Request, name: str, epoch: int | None = Query(default=None, ge=1)) -> PreviewOut:
    return run_views.preview(run_views.run_folder(studio_of(request).scheduler.runs_dir, name), epoch)


@router.post("/{name}/deploy", status_code=202, response_model=JobOut,
             summary="Queue a deploy job: export the run (with the parity check) and register it as the next "
                     "version of a model; follow GET /jobs/{id}/events (stages: export, parity check, registration)")
def deploy(request: Request, name: str, req: DeployRequest) -> JobOut:
    studio = studio_of(request)
    run_dir = run_views.run_folder(studio.scheduler.runs_dir, name)  # 404 for an unknown run
    if not weights_path(run_dir, "best").is_file():
        raise Conflict(f"run {name} has no trained weights (weights/best.pt) yet; deploy a completed run")
    studio.check_queue()
    job_id = new_id()
    # the job's own exported file, under the home (names, not paths, are stored)
    params = {"model": req.model, "options": {"incoming": f"models/.incoming/{job_id}.onnx"}}
    with studio.db.session() as s:
        studio.scheduler.queue_job(s, JobKind.DEPLOY, job_id, run_name=run_dir.name, params=params)
    return studio.job_out(studio.job_row(job_id), with_metrics=False)
