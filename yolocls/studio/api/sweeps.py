"""/api/v1/datasets/{id}/sweep: a hyper-parameter sweep job (Ray Tune, ASHA) on a dataset; every trial is a run on
the leaderboard, and the job's `params.sweep` names the best one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from yolocls.core.errors import ConfigError
from yolocls.studio.api.jobs import Invalid, checked_dataset, data_folder, train_fields
from yolocls.studio.job_events import new_id
from yolocls.studio.jobmodel import JobKind
from yolocls.studio.schemas import JobCreate, JobOut
from yolocls.studio.service import studio_of
from yolocls.training.presets import load_presets
from yolocls.training.space import load_space

router = APIRouter(prefix="/datasets", tags=["datasets"])


class SweepCreate(JobCreate):
    dataset: str = Field(default="", description="Taken from the URL")
    trials: int = Field(default=8, ge=1, le=200)
    space: str | dict[str, dict[str, list[Any]]] = Field(
        default="default", description="A search space's name (see GET /presets: search_spaces) or the parameters "
        "themselves, e.g. {'lr0': {'loguniform': [0.0001, 0.01]}, 'aug': {'choice': ['none', 'light']}}")
    early_stop: bool = Field(default=True, description="ASHA: stop poor trials early")
    grace: int = Field(default=1, ge=1, le=1000, description="Epochs every trial gets before it can be stopped")


@router.post("/{dataset_id}/sweep", status_code=202, response_model=JobOut,
             summary="Tune hyper-parameters: N trials over a search space, poor ones stopped early")
def start_sweep(request: Request, dataset_id: str, req: SweepCreate) -> JobOut:
    studio = studio_of(request)
    req, dataset = checked_dataset(studio, dataset_id, req)
    if isinstance(req.space, str) and req.space not in load_presets().search_spaces:  # a name, never a file
        raise Invalid(f"space: unknown '{req.space}'; valid: {', '.join(load_presets().search_spaces)}, or the "
                      "parameters themselves")
    try:
        load_space(req.space)
    except ConfigError as exc:
        raise Invalid(str(exc)) from None
    job_id = new_id()
    train = {**train_fields(req), "device": "cpu"}  # the sweep's own task trains nothing: its trials are Ray Tune's
    options = {"data": data_folder(studio, dataset, req), "trials": req.trials, "space": req.space, "train": train,
               "early_stop": req.early_stop, "grace": req.grace, "name": f"{dataset.name}-sweep-{job_id}",
               "quiet": True}
    with studio.db.session() as s:
        studio.scheduler.queue_job(s, JobKind.SWEEP, job_id, dataset_id=dataset.id,
                                   params={"request": req.model_dump(), "options": options})
    return studio.job_out(studio.job_row(job_id))
