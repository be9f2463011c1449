"""`run.json`: the truthful record of one training run (config, versions, device, timing, outcome)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from yolocls.errors import RunError

RUN_RECORD = "run.json"
Status = Literal["running", "completed", "failed", "interrupted"]


def now() -> datetime:
    return datetime.now(timezone.utc)


class RunRecord(BaseModel):
    """Written when a run starts, updated every epoch, finalised on success, crash or Ctrl-C."""

    format_version: int = 1
    name: str
    status: Status
    preset: str | None
    aug: str | None = None
    model: str = Field(description="Model architecture, e.g. yolov8n-cls")
    weights: str = Field(description="Checkpoint the run started from, or the model YAML when from scratch")
    weights_source: str = Field(description="--weights | weights-dir | download | scratch | resume")
    args: dict[str, Any] = Field(description="Fully resolved Ultralytics training arguments")
    dataset: str = Field(description="Absolute path of the prepared dataset")
    manifest_sha256: str | None = None
    classes: list[str]
    versions: dict[str, str]
    device: str
    started: datetime
    ended: datetime | None = None
    epochs_completed: int = 0
    epochs_planned: int = 0
    best_epoch: int | None = Field(default=None, description="1-based epoch with the best fitness")
    best_metric: dict[str, float] = Field(default_factory=dict, description="top1/top5/fitness at best_epoch")
    last_metrics: dict[str, float] = Field(default_factory=dict)
    error: str | None = None
    resumed: int = 0
    command: list[str] = Field(default_factory=list)

    def save(self, run_dir: Path) -> None:
        """Atomic write: a reader never sees half a run.json."""
        tmp = run_dir / f".{RUN_RECORD}.tmp"
        tmp.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, run_dir / RUN_RECORD)


def load_run_record(run_dir: Path) -> RunRecord | None:
    path = run_dir / RUN_RECORD
    if not path.is_file():
        return None
    try:
        return RunRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:
        raise RunError(f"{path}: unreadable run record ({str(exc).splitlines()[0]})") from exc


def unique_run_dir(runs_dir: Path, name: str) -> Path:
    """runs/<name>, or runs/<name>-2, -3, ... : an existing run is never overwritten. Creates the folder."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    for k in range(1, 10_000):
        candidate = runs_dir / (name if k == 1 else f"{name}-{k}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RunError(f"{runs_dir}: too many runs named '{name}'; choose another --name")
