"""Request and response bodies of the studio API (pydantic; separate from the database tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from yolocls.data.manifest import DuplicateGroup, SkippedFile
from yolocls.studio.jobmodel import JobKind, JobStatus
from yolocls.training.hyperparams import BATCH_MAX, EPOCHS_MAX, IMGSZ_MAX, IMGSZ_MIN
from yolocls.training.rundir import EpochMetrics, PreviewEpoch, PreviewImage

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class DuplicateGroupOut(DuplicateGroup):
    images: list[str | None] = Field(default_factory=list, description="Per file: its path inside the dataset "
                                     "(for GET /datasets/{id}/files/...), or null when prepare left it out")


class DatasetOut(BaseModel):
    id: str
    name: str
    status: Literal["preparing", "labelling", "ready", "failed"] = Field(description="labelling: images to label, "
                                                                        "no version cut yet")
    error: str | None = None
    created: datetime
    version: int | None = Field(default=None, description="The dataset version trained on by default (the latest)")
    labelled: int | None = Field(default=None, description="Images with a label (a dataset being labelled)")
    classes: list[str] = Field(default_factory=list)
    counts: dict[str, dict[str, int]] = Field(default_factory=dict, description="split -> class -> images")
    images: int = 0
    skipped_count: int = Field(default=0, description="Files prepare left out (the list: only this count)")
    duplicate_groups: int = Field(default=0, description="Duplicate groups found (the list: only this count)")
    skipped: list[SkippedFile] = Field(default_factory=list)
    duplicates: list[DuplicateGroupOut] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    samples: dict[str, list[str]] = Field(default_factory=dict, description="class -> a few image paths inside "
                                          "the dataset, spread over its splits")


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(description="Dataset id")
    version: int | None = Field(default=None, ge=1, description="The dataset version to train on (default: the "
                                "latest); the run records it")
    preset: str = "small-fast"
    aug: str | None = None
    balance: Literal["auto", "none", "weights", "sampler"] | None = Field(
        default=None, description="Imbalanced classes: class-weighted loss, a class-balanced sampler, or none; auto "
        "(the preset's default): weights when the largest class has over 3x the images of the smallest")
    epochs: int | None = Field(default=None, ge=1, le=EPOCHS_MAX)
    imgsz: int | None = Field(default=None, ge=IMGSZ_MIN, le=IMGSZ_MAX)
    batch: int | None = Field(default=None, ge=1, le=BATCH_MAX)
    device: str = Field(default="auto", max_length=64)
    set: dict[str, Any] = Field(default_factory=dict, max_length=64, description="Training hyper-parameters "
                                "(an allowlist of scalars with bounds, as `yolocls train --set`; see "
                                "`yolocls presets`); never paths")


class JobOut(BaseModel):
    id: str
    kind: JobKind
    status: JobStatus
    dataset: str | None
    run: str | None = Field(description="The run folder name under runs/ (training jobs)")
    epoch: int = Field(description="Epochs finished")
    epochs: int = Field(description="Epochs planned")
    batch: int | None = Field(default=None, description="Batches of the epoch in progress done (running jobs)")
    batches: int | None = Field(default=None, description="Batches per epoch")
    eta_s: float | None = None
    error: str | None = None
    deployed: ModelVersionOut | None = Field(default=None, description="The model version a completed deploy "
                                             "job registered")
    waiting: str | None = Field(default=None, description="A queued job handed to Ray that has not started yet: "
                                "why (what it asks for against what the cluster's nodes have)")
    created: datetime
    started: datetime | None = None
    ended: datetime | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: list[EpochMetrics] = Field(default_factory=list)


class EngineOut(BaseModel):
    """The job engine (Ray) as the studio sees it now."""

    available: bool
    where: str = Field(description="'the local Ray' or the cluster's address")
    reason: str | None = Field(default=None, description="Why it is unavailable (the studio reconnects by itself)")
    nodes: list[dict[str, float]] = Field(default_factory=list, description="Each live node's CPUs and GPUs")
    free: dict[str, float] = Field(default_factory=dict, description="CPUs and GPUs free now")


class DatasetCreated(BaseModel):
    dataset: DatasetOut
    job: JobOut


class RunDetail(BaseModel):
    run: str
    record: dict[str, Any] | None
    epochs: list[EpochMetrics]
    report: dict[str, Any] | None = Field(description="report/metrics.json when the run has a report")
    files: list[str] = Field(description="Files GET /runs/{name}/files/{path} serves")
    links: dict[str, str] = Field(default_factory=dict, description="Where the run's named files are (for "
                                  "GET /runs/{name}/files/{path}), when they exist: report_html, openset")


class PreviewOut(BaseModel):
    run: str
    epoch: int | None
    epochs: list[int]
    images: list[PreviewImage]
    predictions: PreviewEpoch | None


class DeployRequest(BaseModel):
    model: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Model name, e.g. shoes")


class ModelVersionOut(BaseModel):
    model: str
    version: int
    run: str
    sha256: str
    default: bool
    created: datetime
    parity: dict[str, Any] = Field(default_factory=dict)
    imgsz: int | None = Field(default=None, description="Input size (null for versions deployed before the "
                              "studio recorded it)")
    classes: list[str] = Field(default_factory=list)
    heatmaps: bool = Field(default=False, description="Whether ?explain=true can give heatmaps (imgsz >= 224)")


class ModelOut(BaseModel):
    name: str
    default_version: int | None
    versions: list[ModelVersionOut]


class PresetOut(BaseModel):
    name: str
    description: str
    model: str
    aug: str = Field(description="The preset's augmentation set")
    balance: str = Field(default="auto", description="The preset's class-imbalance handling")
    args: dict[str, Any] = Field(description="Ultralytics training arguments the preset sets")


class PresetsOut(BaseModel):
    presets: list[PresetOut]
    augmentations: dict[str, dict[str, Any]] = Field(description="Augmentation set -> the arguments it sets")
    search_spaces: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Sweep search spaces: name "
                                                     "-> parameter -> distribution (POST /datasets/{id}/sweep)")


class ConfusionOut(BaseModel):
    run: str
    split: str
    classes: list[str]
    matrix: list[list[int]] = Field(description="Rows = TRUE class, columns = PREDICTED class")


class PredictionRow(BaseModel):
    path: str = Field(description="Relative to the run's dataset (GET /runs/{name}/images/{path})")
    true: str
    predicted: str
    confidence: float


class CaptureConfig(BaseModel):
    """What a deployed model keeps of the requests it answers (all its versions), in the studio's captures/ folder."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    unknown: bool = Field(default=True, description="Keep requests answered `unknown`")
    below: float | None = Field(default=None, gt=0, le=1, description="Keep answers below this confidence")
    sample: float = Field(default=0.0, ge=0, le=1, description="Keep this fraction of all other requests")
    max_files: int = Field(default=10_000, ge=1, le=10_000_000)
    max_bytes: int = Field(default=1024**3, ge=1, le=1024**4)


class CapturedOut(BaseModel):
    name: str = Field(description="GET /models/{model}/captures/{name} for the image")
    reason: str = Field(description="unknown | below | sample")
    model: str = Field(description="The model version that answered")
    prediction: dict[str, Any]
    time: float


class CapturesOut(BaseModel):
    config: CaptureConfig
    count: int
    bytes: int
    recent: list[CapturedOut] = Field(description="Newest first")
