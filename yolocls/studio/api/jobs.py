"""/api/v1/jobs: start training, list, show, live events (SSE), cancel, resume, log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select
from sse_starlette import EventSourceResponse, ServerSentEvent

from yolocls.core.errors import ConfigError, YoloclsError
from yolocls.studio.job_events import new_id
from yolocls.studio.jobmodel import RESUMABLE, TERMINAL, JobKind
from yolocls.studio.models import DatasetRow, JobRow
from yolocls.studio.schemas import JobCreate, JobOut
from yolocls.studio.service import Conflict, Studio, studio_of
from yolocls.studio.versions import train_folder
from yolocls.training.hyperparams import check_hyperparams, parse_device
from yolocls.training.presets import load_presets, resolve_args
from yolocls.training.rundir import checkpoint_exists, weights_path

router = APIRouter(prefix="/jobs", tags=["jobs"])
SEP = "\n"  # event lines end with LF (what the pages' reader splits on)


class Invalid(YoloclsError):
    status_code = 422


def validate_job(studio: Studio, req: JobCreate) -> None:
    row = studio.dataset_row(req.dataset)  # 404 when missing
    if row.status != "ready":
        hint = "; cut a version of its labels first" if row.status == "labelling" else ""
        raise Invalid(f"dataset: '{row.name}' is {row.status}" + (f" ({row.error})" if row.error else "")
                      + f"; only a ready dataset can be trained on{hint}")
    book = load_presets()
    if req.preset not in book.presets:
        raise Invalid(f"preset: unknown '{req.preset}'; valid presets: {', '.join(book.presets)}")
    if req.aug is not None and req.aug not in book.augmentations:
        raise Invalid(f"aug: unknown '{req.aug}'; valid: {', '.join(book.augmentations)}")
    try:
        check_hyperparams(req.set, "set:")
        parse_device(req.device, "device:")  # the CLI's own check of --device
    except ConfigError as exc:
        raise Invalid(str(exc)) from None


Req = TypeVar("Req", bound=JobCreate)


def train_fields(req: JobCreate) -> dict[str, Any]:
    """A request's training settings as TrainOptions fields (names, never paths), for every job kind that trains."""
    return {"preset": req.preset, "aug": req.aug, "balance": req.balance, "epochs": req.epochs, "imgsz": req.imgsz,
            "batch": req.batch, "device": req.device, "set": [f"{k}={json.dumps(v)}" for k, v in req.set.items()]}


def data_folder(studio: Studio, dataset: DatasetRow, req: JobCreate) -> str:
    """The dataset folder a job trains on (relative to the home): the version asked for, else the latest."""
    with studio.db.session() as s:
        return train_folder(s, dataset, req.version)[0]


def checked_dataset(studio: Studio, dataset_id: str, req: Req) -> tuple[Req, DatasetRow]:
    """A job request on the dataset of the URL: queue room (429/503), its fields (422), the dataset (404)."""
    studio.check_queue()
    req = req.model_copy(update={"dataset": dataset_id})
    validate_job(studio, req)
    return req, studio.dataset_row(dataset_id)


@router.post("", status_code=202, response_model=JobOut, summary="Queue a training job")
def create_job(request: Request, req: JobCreate) -> JobOut:
    studio = studio_of(request)
    studio.check_queue()
    validate_job(studio, req)
    dataset = studio.dataset_row(req.dataset)
    job_id = new_id()
    run_name = f"{dataset.name}-{req.preset}-{job_id}"
    # Names, not paths: the scheduler turns them into folders of the home when the job starts.
    options = {"data": data_folder(studio, dataset, req), **train_fields(req), "name": run_name}
    # as `yolocls train` resolves them: preset <- augmentation set <- named fields <- set
    planned = int(resolve_args(load_presets().presets[req.preset], req.aug, {"epochs": req.epochs}, req.set)
                  .get("epochs", 0))
    with studio.db.session() as s:
        studio.scheduler.queue_job(s, JobKind.TRAIN, job_id, dataset_id=dataset.id, run_name=run_name,
                                   params={"request": req.model_dump(), "options": options}, epochs_planned=planned)
    return studio.job_out(studio.job_row(job_id))


@router.get("", response_model=list[JobOut], summary="Jobs, newest first, a page at a time (X-Total-Count: all)")
def list_jobs(request: Request, response: Response, limit: int = Query(default=100, ge=1, le=500),
              offset: int = Query(default=0, ge=0, le=10**9)) -> list[JobOut]:
    studio = studio_of(request)
    with studio.db.session() as s:
        total = s.scalar(select(func.count()).select_from(JobRow)) or 0
        rows = list(s.scalars(select(JobRow).order_by(JobRow.created.desc(), JobRow.id).offset(offset).limit(limit)))
    response.headers["X-Total-Count"] = str(total)
    return [studio.job_out(r, with_metrics=False) for r in rows]


@router.get("/{job_id}", response_model=JobOut)
def get_job(request: Request, job_id: str) -> JobOut:
    studio = studio_of(request)
    return studio.job_out(studio.job_row(job_id))


@router.get("/{job_id}/events", summary="Server-Sent Events: `epoch` per finished epoch, `status` per change",
            response_class=EventSourceResponse)
async def job_events(request: Request, job_id: str,
                     last_event_id: str | None = Header(default=None)) -> EventSourceResponse:
    studio = studio_of(request)
    await asyncio.to_thread(studio.job_row, job_id)  # 404 before the stream starts
    # an event id is a database id: anything else (or absurdly long) means "from the start"
    start = int(last_event_id) if last_event_id and last_event_id.isdigit() and len(last_event_id) <= 18 else 0

    async def stream() -> AsyncIterator[ServerSentEvent]:
        last = start
        while True:  # the database is read in a worker thread: never on the event loop
            finished = False
            for event in await asyncio.to_thread(studio.events_after, job_id, last):
                last = event.id
                yield ServerSentEvent(data=json.dumps(event.data, default=str), event=event.kind, id=str(event.id),
                                      sep=SEP)
                finished = event.kind == "status" and event.data.get("status") in TERMINAL
            if finished:
                return
            job = await asyncio.to_thread(studio.job_row, job_id)
            if job.status in TERMINAL and not await asyncio.to_thread(studio.events_after, job_id, last):
                return
            await asyncio.sleep(studio.settings.poll_s)

    # a comment line every YOLOCLS_SSE_PING_S (15 s) keeps proxies from closing the stream during a long epoch;
    # a client that goes away ends the generator
    return EventSourceResponse(stream(), ping=studio.settings.sse_ping_s, sep=SEP,
                               ping_message_factory=lambda: ServerSentEvent(comment="ping", sep=SEP),
                               headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/{job_id}/cancel", response_model=JobOut, summary="Stop at the next batch, keep the checkpoint")
def cancel_job(request: Request, job_id: str) -> JobOut:
    studio = studio_of(request)
    job = studio.job_row(job_id)
    if job.status in TERMINAL:
        raise Conflict(f"job {job_id} is already {job.status}")
    studio.scheduler.cancel(job_id)
    return studio.job_out(studio.job_row(job_id))


@router.post("/{job_id}/resume", status_code=202, response_model=JobOut,
             summary="Continue a cancelled or interrupted training job from its last checkpoint")
def resume_job(request: Request, job_id: str) -> JobOut:
    studio = studio_of(request)
    job = studio.job_row(job_id)
    if job.kind != JobKind.TRAIN or job.status not in RESUMABLE:
        raise Conflict(f"job {job_id} is {job.status}; only a cancelled or interrupted training job resumes")
    if not checkpoint_exists(weights_path(studio.scheduler.runs_dir / (job.run_name or ""), "last")):
        raise Conflict(f"job {job_id} stopped before its first checkpoint; start a new job instead")
    studio.check_queue()
    studio.scheduler.resume(job_id)
    return studio.job_out(studio.job_row(job_id))


@router.get("/{job_id}/log", response_class=PlainTextResponse)
def job_log(request: Request, job_id: str) -> PlainTextResponse:
    return PlainTextResponse(studio_of(request).job_log(job_id))
