"""The run folder: `run.json` (the truthful record of a run), results.csv, best epoch, weights, dataset.

Everything that knows where things live inside `runs/<name>/` is here; train, report and export use it.
"""

from __future__ import annotations

import atexit
import csv
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from yolocls.core.errors import DatasetError, RunError
from yolocls.core.fs import atomic_write_text

# the names live in core.runlayout (imported here for the training code that used them from this module)
from yolocls.core.runlayout import (  # noqa: E402
    EPOCHS_LOG,
    PREVIEW_FILE,
    RESULTS_CSV,
    RUN_RECORD,
    STOP_FILE,
    WEIGHTS_DIR,
    weights_path,
)
from yolocls.training.balance import BalanceRecord

__all__ = ["EPOCHS_LOG", "PREVIEW_FILE", "RESULTS_CSV", "RUN_RECORD", "STOP_FILE", "WEIGHTS_DIR", "weights_path"]
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
    balance: BalanceRecord | None = Field(default=None, description="How class imbalance was handled")
    cpu_threads: int | None = Field(default=None, description="torch CPU threads training ran with (the same for "
                                    "`yolocls train` and a studio job on one machine)")
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
        atomic_write_text(run_dir / RUN_RECORD, self.model_dump_json(indent=2))


class EpochMetrics(BaseModel):
    """One line of epochs.jsonl: what the dashboard plots, from the validator's own predictions."""

    epoch: int
    train_loss: float | None = None
    val_loss: float | None = None
    top1: float | None = None
    top5: float | None = None
    precision: float | None = Field(default=None, description="Macro precision on val")
    recall: float | None = Field(default=None, description="Macro recall on val")
    f1: float | None = Field(default=None, description="Macro F1 on val")
    avg_confidence: float | None = Field(default=None, description="Mean top-1 probability on val")
    lr: float | None = None
    seconds: float | None = Field(default=None, description="Wall time of the epoch, validation included")
    images: int = Field(default=0, description="Val images the metrics were computed on")


class PreviewImage(BaseModel):
    path: str = Field(description="Relative to the dataset folder")
    true: str


class PreviewEpoch(BaseModel):
    epoch: int
    pred: list[str]
    confidence: list[float]


class Preview(BaseModel):
    """preview.json: up to 32 val images chosen once per run, and each epoch's prediction for them."""

    images: list[PreviewImage]
    epochs: list[PreviewEpoch]


def read_epochs(run_dir: Path) -> list[EpochMetrics]:
    """epochs.jsonl; a resumed run may repeat an epoch: the last line for it wins; a cut line is skipped."""
    path = run_dir / EPOCHS_LOG
    if not path.is_file():
        return []
    by_epoch: dict[int, EpochMetrics] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = EpochMetrics.model_validate_json(line)
        except ValueError:
            continue
        by_epoch[row.epoch] = row
    return [by_epoch[k] for k in sorted(by_epoch)]


def read_preview(run_dir: Path) -> Preview | None:
    path = run_dir / PREVIEW_FILE
    if not path.is_file():
        return None
    try:
        return Preview.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RunError(f"{path}: unreadable preview ({str(exc).splitlines()[0]})") from None


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


def read_results(run_dir: Path) -> list[dict[str, float]]:
    """Ultralytics' results.csv (one row per epoch) with stripped column names."""
    path = run_dir / RESULTS_CSV
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for row in rows:
        clean = {}
        for k, v in row.items():
            try:
                clean[k.strip()] = float(v)
            except (TypeError, ValueError):
                continue
        out.append(clean)
    return out


def best_from_results(rows: list[dict[str, float]]) -> tuple[int | None, dict[str, float]]:
    """Best epoch by Ultralytics' classification fitness (mean of top-1 and top-5). Ultralytics rewrites
    best.pt when an epoch *ties* the best fitness, so the best epoch is the last of the tied ones."""
    best: int | None = None
    best_metrics: dict[str, float] = {}
    for row in rows:
        top1, top5 = row.get("metrics/accuracy_top1"), row.get("metrics/accuracy_top5")
        if top1 is None or top5 is None:
            continue
        fitness = (top1 + top5) / 2
        if not best_metrics or fitness >= best_metrics["fitness"]:
            best, best_metrics = int(row.get("epoch", 0)), {"top1": top1, "top5": top5, "fitness": fitness}
    return best, best_metrics


def _complete(path: Path) -> bool:
    """A complete checkpoint file (torch saves zip archives; a cut write is not one)."""
    return path.is_file() and zipfile.is_zipfile(path)


def _prev(path: Path) -> Path:
    return path.with_name(path.name + ".prev")


def _settle(path: Path, prev: Path) -> None:
    """Keep `path` when it is a complete checkpoint (torch saves zip archives), else restore `prev`."""
    if _complete(path):
        prev.unlink(missing_ok=True)
    else:
        os.replace(prev, path)


@contextmanager
def keep_previous(paths: list[Path], copy: bool = False) -> Iterator[None]:
    """While checkpoints are rewritten in place, keep each old version as `<name>.prev`; afterwards keep the
    new file if it is complete, else put the old one back. A process killed outright (SIGKILL, power loss)
    leaves the `.prev`, which `repair_checkpoints` restores. `copy` for writers that read the file first."""
    kept = []
    for path in paths:
        if path.is_file():
            prev = _prev(path)
            if copy:
                shutil.copy2(path, prev)
            else:
                os.replace(path, prev)
            kept.append((path, prev))
    try:
        yield
    finally:
        for path, prev in kept:
            _settle(path, prev)


def repair_checkpoints(run_dir: Path) -> list[str]:
    """Restore checkpoints a killed process left half-written; returns the names restored."""
    restored = []
    for prev in sorted((run_dir / WEIGHTS_DIR).glob("*.pt.prev")):
        path = prev.with_name(prev.name[: -len(".prev")])
        if not _complete(path):
            restored.append(path.name)
        _settle(path, prev)
    return restored


def checkpoint_exists(path: Path) -> bool:
    """A complete checkpoint at `path`, or the complete previous version a killed write left beside it (what
    `repair_checkpoints` restores when training resumes)."""
    return _complete(path) or _complete(_prev(path))


def readable_checkpoint(path: Path) -> Path:
    """`path`, or, when a killed write cut it, a copy of the complete previous version (`<name>.prev`) in a
    temporary folder removed at exit: readers never write to a run folder (only training repairs one:
    `repair_checkpoints`), and Ultralytics only loads files named `*.pt`."""
    prev = _prev(path)
    if _complete(path) or not _complete(prev):
        return path
    folder = Path(tempfile.mkdtemp(prefix="yolocls-weights-"))
    atexit.register(shutil.rmtree, folder, True)
    return Path(shutil.copy2(prev, folder / path.name))


def run_weights(run_dir: Path, which: str, action: str) -> tuple[Path, Path]:
    """(resolved run folder, its weights/<which>.pt, or the complete copy a killed write left), with errors naming
    what is missing. Reads only."""
    run_dir = run_dir.expanduser().resolve()
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: run folder not found")
    weights = readable_checkpoint(weights_path(run_dir, which))
    if not weights.is_file():
        raise RunError(f"{weights}: no weights to {action} (the run has not finished an epoch?); train first"
                       f"{' or choose --weights last' if which == 'best' else ''}")
    return run_dir, weights


def dataset_of_run(run_dir: Path, data: Path | None) -> Path:
    """--data, else run.json's dataset, else Ultralytics' args.yaml `data` (plain Ultralytics runs)."""
    if data is not None:
        expected, origin = data.expanduser().resolve(), "--data"
    else:
        record = load_run_record(run_dir)
        if record is not None:
            expected, origin = Path(record.dataset), RUN_RECORD
        elif (run_dir / "args.yaml").is_file():
            args = yaml.safe_load((run_dir / "args.yaml").read_text()) or {}
            if not args.get("data"):
                raise RunError(f"{run_dir / 'args.yaml'}: no 'data' entry; pass --data DATASET_DIR")
            expected, origin = Path(str(args["data"])), "args.yaml"
        else:
            raise RunError(f"{run_dir}: no run.json or args.yaml to find the dataset; pass --data DATASET_DIR")
    if not expected.is_dir():
        raise DatasetError(f"dataset not found at {expected} (from {origin}); it was moved or deleted. "
                           "Pass --data with its new location")
    return expected
