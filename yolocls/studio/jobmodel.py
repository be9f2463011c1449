"""What a studio job is, in one place: its statuses and the transitions allowed between them, its kinds (each
with the worker function that runs it and the typed result that function returns).

Torch-free and Ray-free: the web process, the scheduler, the engine and the unit tests all use it. A new kind
of background work is one entry in `KINDS`, one worker function in `studio.worker` returning its result type;
a worker named here that does not exist stops the studio at start-up (`JobEngine.start`), not a job at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, Field

from yolocls.core.errors import YoloclsError
from yolocls.training.hyperparams import parse_device


class _Text(str, Enum):
    """An enum whose members are their text (as stored in the database and sent to clients)."""

    def __str__(self) -> str:
        return str(self.value)


class JobStatus(_Text):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.INTERRUPTED})
ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
RESUMABLE = frozenset({JobStatus.CANCELLED, JobStatus.INTERRUPTED})  # a training job's run keeps its checkpoints

TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED}),
    # back to queued: a preparation the studio was stopped in the middle of starts again after a restart
    JobStatus.RUNNING: frozenset(TERMINAL | {JobStatus.QUEUED}),
    JobStatus.CANCELLED: frozenset({JobStatus.QUEUED}),  # resumed
    JobStatus.INTERRUPTED: frozenset({JobStatus.QUEUED}),  # resumed
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
}


class InvalidTransition(YoloclsError):
    status_code = 409


def check_transition(old: str, new: str) -> JobStatus:
    """`new` as a JobStatus when a job in `old` may move to it, else InvalidTransition (409)."""
    before, after = JobStatus(old), JobStatus(new)
    if after not in TRANSITIONS[before]:
        raise InvalidTransition(f"a {before} job cannot become {after}")
    return after


class PrepareResult(BaseModel):
    ok: bool
    out: str | None = None
    error: str | None = None

    @classmethod
    def crashed(cls, error: str) -> PrepareResult:
        return cls(ok=False, error=error)


class TrainResult(BaseModel):
    status: Literal["completed", "interrupted", "failed"]
    run: str | None = None
    error: str | None = None
    lost: bool = False  # the worker process ended without answering (its node lost, killed): resumable

    @classmethod
    def crashed(cls, error: str) -> TrainResult:
        return cls(status="failed", error=error, lost=True)


class ExportResult(BaseModel):
    ok: bool
    path: str | None = None
    sha256: str | None = None
    parity: dict[str, Any] | None = None
    imgsz: int | None = None
    classes: list[str] | None = None
    error: str | None = None

    @classmethod
    def crashed(cls, error: str) -> ExportResult:
        return cls(ok=False, error=error)


class CurveResult(BaseModel):
    ok: bool
    folder: str | None = Field(default=None, description="The curve's folder under runs/")
    verdict: str | None = None
    error: str | None = None

    @classmethod
    def crashed(cls, error: str) -> CurveResult:
        return cls(ok=False, error=error)


class SweepResult(BaseModel):
    ok: bool
    folder: str | None = Field(default=None, description="The sweep's folder under runs/")
    best: dict[str, Any] | None = Field(default=None, description="The best trial: run, val_top1, config")
    trials: int = 0
    error: str | None = None

    @classmethod
    def crashed(cls, error: str) -> SweepResult:
        return cls(ok=False, error=error)


class IngestResult(BaseModel):
    """Images received for labelling: checked and stored in the dataset's pool (its image list beside it)."""

    ok: bool
    images: int = 0
    skipped: int = 0
    error: str | None = None

    @classmethod
    def crashed(cls, error: str) -> IngestResult:
        return cls(ok=False, error=error)


class VersionResult(BaseModel):
    """A dataset version built: its folder published with prepare's manifest."""

    ok: bool
    out: str | None = None
    error: str | None = None

    @classmethod
    def crashed(cls, error: str) -> VersionResult:
        return cls(ok=False, error=error)


class SuggestResult(BaseModel):
    """A model's classes for a dataset's images, written beside the job's image list."""

    ok: bool
    images: int = 0
    error: str | None = None

    @classmethod
    def crashed(cls, error: str) -> SuggestResult:
        return cls(ok=False, error=error)


class LabelCheckResult(BaseModel):
    """Suspected label errors of a dataset version (k-fold cross-validation + confident learning)."""

    ok: bool
    folder: str | None = Field(default=None, description="The check's folder under runs/")
    images: int = 0
    issues: int = 0
    error: str | None = None

    @classmethod
    def crashed(cls, error: str) -> LabelCheckResult:
        return cls(ok=False, error=error)


JobResult = (PrepareResult | TrainResult | ExportResult | CurveResult | SweepResult | IngestResult | VersionResult
             | SuggestResult | LabelCheckResult)
ResultType = (type[PrepareResult] | type[TrainResult] | type[ExportResult] | type[CurveResult] | type[SweepResult]
              | type[IngestResult] | type[VersionResult] | type[SuggestResult] | type[LabelCheckResult])
LABEL_RESULTS = (IngestResult, VersionResult, SuggestResult, LabelCheckResult)  # finished by the labelling half


class JobKind(_Text):
    PREPARE = "prepare"
    TRAIN = "train"
    DEPLOY = "deploy"
    CURVE = "learning-curve"
    SWEEP = "sweep"
    INGEST = "ingest"  # images uploaded for labelling
    VERSION = "version"  # a dataset version cut from the labels
    SUGGEST = "suggest"  # a model's classes for a dataset's images
    LABEL_CHECK = "label-check"  # suspected label errors of a dataset version


@dataclass(frozen=True)
class WorkSpec:
    """A kind of background work: the `studio.worker` function that does it and what it returns."""

    worker: str
    result: ResultType
    gpu: bool = False  # asks the cluster for a GPU when it has some


KINDS: dict[JobKind, WorkSpec] = {
    JobKind.PREPARE: WorkSpec("run_prepare", PrepareResult),
    JobKind.TRAIN: WorkSpec("run_train", TrainResult, gpu=True),
    JobKind.DEPLOY: WorkSpec("run_export", ExportResult),  # then registered by the scheduler as a model version
    JobKind.CURVE: WorkSpec("run_curve", CurveResult, gpu=True),  # trains: holds a training slot
    JobKind.SWEEP: WorkSpec("run_sweep", SweepResult),  # its trials are Ray Tune's, each with its own CPUs
    JobKind.INGEST: WorkSpec("run_ingest", IngestResult),
    JobKind.VERSION: WorkSpec("run_version", VersionResult),
    JobKind.SUGGEST: WorkSpec("run_suggest", SuggestResult),
    JobKind.LABEL_CHECK: WorkSpec("run_label_check", LabelCheckResult, gpu=True),  # trains k models
}
# the slots each kind takes a place in: preparations, trainings (the kinds that train), deployments
SLOT_OF = {JobKind.PREPARE: JobKind.PREPARE, JobKind.INGEST: JobKind.PREPARE, JobKind.VERSION: JobKind.PREPARE,
           JobKind.SUGGEST: JobKind.PREPARE, JobKind.TRAIN: JobKind.TRAIN, JobKind.CURVE: JobKind.TRAIN,
           JobKind.SWEEP: JobKind.TRAIN, JobKind.LABEL_CHECK: JobKind.TRAIN, JobKind.DEPLOY: JobKind.DEPLOY}
TRAINS = (JobKind.TRAIN, JobKind.CURVE, JobKind.SWEEP, JobKind.LABEL_CHECK)  # kinds that train (training slots)
ALL_WORK = tuple(KINDS.values())
STAGES = {JobKind.DEPLOY: ("export", "parity check", "registration")}  # the `progress` events' stages, in order


def gpus_wanted(device: str | None) -> int:
    """GPUs a training job asks the cluster for: none for `cpu`, one per listed id (`0,1`: two, for DDP), one
    for `auto` (used when the cluster has GPUs)."""
    parsed = parse_device(device, "device:")
    if parsed == "cpu":
        return 0
    return 1 if parsed == "auto" else len(parsed.split(","))


def device_in_worker(device: str | None, assigned_gpus: int) -> str | None:
    """The device a training job passes to Ultralytics inside a Ray worker: Ray shows the worker only the GPUs
    it assigned, renumbered 0..n-1, so explicit ids (`1`, `0,1`) become those; anything else is unchanged."""
    parsed = parse_device(device, "device:")
    if assigned_gpus <= 0 or parsed in ("auto", "cpu"):
        return device
    return ",".join(str(i) for i in range(min(assigned_gpus, len(parsed.split(",")))))
