"""Progress within an epoch: `progress.json` in the run folder, rewritten every few seconds from the training
loop's batch callbacks. An epoch of a big dataset takes minutes; the studio (and anyone watching the run
folder) shows the batch, the epoch and a time left from it, instead of "epoch 0" until the first epoch ends."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from yolocls.core.fs import atomic_write_text

PROGRESS_FILE = "progress.json"
DEFAULT_EVERY_S = 2.0


class BatchProgress(BaseModel):
    epoch: int = Field(description="The epoch being trained (1-based)")
    epochs: int
    batch: int = Field(description="Batches of this epoch done")
    batches: int = Field(description="Batches per epoch")
    seconds: float = Field(description="Seconds since this epoch started")
    eta_s: float | None = Field(description="Time left for the whole run, from this epoch's pace")


def read_progress(run_dir: Path) -> BatchProgress | None:
    path = run_dir / PROGRESS_FILE
    try:
        return BatchProgress.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _every_s() -> float:
    try:
        return max(0.0, float(os.environ.get("YOLOCLS_PROGRESS_S", DEFAULT_EVERY_S)))
    except ValueError:
        return DEFAULT_EVERY_S


class BatchReporter:
    """Ultralytics callbacks (they only observe): `epoch_started` (on_train_epoch_start) and `batch_ended`
    (on_train_batch_end)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir, self.every_s = run_dir, _every_s()
        self.batch, self.started, self.written = 0, time.monotonic(), 0.0

    def epoch_started(self, trainer: Any) -> None:
        self.batch, self.started = 0, time.monotonic()

    def batch_ended(self, trainer: Any) -> None:
        self.batch += 1
        now = time.monotonic()
        batches = len(trainer.train_loader) if getattr(trainer, "train_loader", None) is not None else 0
        if now - self.written < self.every_s and self.batch < batches:
            return
        self.written = now
        seconds = now - self.started
        per_batch = seconds / self.batch
        epoch, epochs = int(trainer.epoch) + 1, int(trainer.epochs)
        eta = per_batch * (max(0, batches - self.batch) + max(0, epochs - epoch) * batches) if batches else None
        progress = BatchProgress(epoch=epoch, epochs=epochs, batch=self.batch, batches=batches,
                                 seconds=round(seconds, 2), eta_s=None if eta is None else round(eta, 1))
        atomic_write_text(self.run_dir / PROGRESS_FILE, progress.model_dump_json())
