"""What a yolocls run adds to Ultralytics' training, as callbacks: the per-epoch line and run.json update, the
per-epoch metrics record, batch progress, and the stop file (how the studio cancels a job).

Multi-GPU (DDP) training runs in other processes: Ultralytics pickles these callbacks (cloudpickle) with the
trainer's class and arguments, and every rank runs them. So each one is picklable, writes files from rank 0 only
(the other ranks have no validator and must not race it), and a stop under DDP ends the epoch in progress on
every rank (rank 0 sets the trainer's `stop`, which Ultralytics broadcasts) instead of raising in one rank.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yolocls.core.runlayout import STOP_FILE
from yolocls.training.batch_progress import BatchReporter
from yolocls.training.device import format_duration
from yolocls.training.epoch_metrics import EpochRecorder
from yolocls.training.interrupts import InterruptGuard
from yolocls.training.rundir import RunRecord, best_from_results, read_results

Callback = Callable[[Any], None]


def log(msg: str, quiet: bool = False) -> None:
    if not quiet:
        import sys

        print(f"[yolocls] {msg}", file=sys.stderr, flush=True)


def rank() -> int:
    """This process's DDP rank (-1: not distributed), as torch.distributed.run sets it."""
    return int(os.environ.get("RANK", "-1"))


def rank_zero(callback: Callback) -> Callback:
    """`callback`, run by the process that writes the run folder: the only one, or DDP rank 0."""

    def call(trainer: Any) -> None:
        if rank() in (-1, 0):
            callback(trainer)

    return call


def _mean_loss(tloss: Any) -> float:
    """Ultralytics keeps the running training loss as a tensor or (newer) a dict of tensors."""
    if tloss is None:
        return float("nan")
    if isinstance(tloss, dict):
        return float(sum(float(v) for v in tloss.values()))
    return float(tloss.sum())


class Progress:
    """Per-epoch line (loss, accuracy, ETA) and a run.json update after every epoch."""

    def __init__(self, record: RunRecord, run_dir: Path, quiet: bool, guard: InterruptGuard,
                 recorder: EpochRecorder) -> None:
        self.record, self.run_dir, self.quiet, self.guard = record, run_dir, quiet, guard
        self.recorder = recorder
        self.t0 = time.monotonic()
        self.start_epoch = record.epochs_completed

    def on_train_start(self, trainer: Any) -> None:
        import torch

        self.record.cpu_threads = torch.get_num_threads()  # as the trainer set them (YoloclsTrainer)
        self.record.save(self.run_dir)

    def on_fit_epoch_end(self, trainer: Any) -> None:
        if self.guard.final_phase or getattr(trainer, "final_phase", False):
            return  # final_eval validates best.pt and fires this callback again, as epoch N+1: not an epoch
        epoch = int(trainer.epoch) + 1
        metrics = {k: float(v) for k, v in (trainer.metrics or {}).items() if isinstance(v, (int, float))}
        loss = _mean_loss(getattr(trainer, "tloss", None))
        self.recorder.record(trainer, epoch, loss)
        self.record.epochs_completed = epoch
        if getattr(trainer.args, "time", None):  # a time budget: Ultralytics re-fits the epochs after each one
            self.record.epochs_planned = epoch if trainer.stop else int(trainer.epochs)
        self.record.last_metrics = {"train_loss": loss, **metrics}
        best, best_metrics = best_from_results(read_results(self.run_dir))
        if best is not None:
            self.record.best_epoch, self.record.best_metric = best, best_metrics
        self.record.save(self.run_dir)
        done = max(1, epoch - self.start_epoch)
        eta = (time.monotonic() - self.t0) / done * max(0, trainer.epochs - epoch)
        top1 = metrics.get("metrics/accuracy_top1", float("nan"))
        log(f"epoch {epoch}/{trainer.epochs}  loss {loss:.4f}  val top1 {top1:.3f}  ETA {format_duration(eta)}",
            self.quiet)


class StopRequested(KeyboardInterrupt):
    """The run's stop file appeared: end like a Ctrl-C between two batches (checkpoints intact, resumable)."""


def stop_when_asked(stop_file: Path) -> list[tuple[str, Callback]]:
    """One process: stop between two batches (like Ctrl-C: checkpoints intact, resumable). DDP: rank 0 ends
    the epoch in progress on every rank (Ultralytics broadcasts `stop` after each epoch; a rank that raised
    alone would leave the others waiting in a collective)."""

    def between_batches(trainer: Any) -> None:
        if rank() == -1 and stop_file.exists():
            raise StopRequested(f"stop requested ({stop_file})")

    def after_epoch(trainer: Any) -> None:
        if rank() == 0 and stop_file.exists():
            trainer.request_stop()

    return [("on_train_batch_end", between_batches), ("on_fit_epoch_end", after_epoch)]


def run_callbacks(record: RunRecord, run_dir: Path, quiet: bool, guard: InterruptGuard,
                  stop_file: bool) -> list[tuple[str, Callback]]:
    """(event, callback) pairs for a run writing to `run_dir`."""
    recorder = EpochRecorder(run_dir, Path(record.dataset), record.classes)
    progress = Progress(record, run_dir, quiet, guard, recorder)
    batches = BatchReporter(run_dir)
    own = [("on_train_start", progress.on_train_start), ("on_fit_epoch_end", progress.on_fit_epoch_end),
           ("on_pretrain_routine_end", recorder.attach), ("on_train_epoch_start", recorder.epoch_started),
           ("on_train_epoch_start", batches.epoch_started), ("on_train_batch_end", batches.batch_ended)]
    callbacks = [(event, rank_zero(fn)) for event, fn in own]
    return callbacks + (stop_when_asked(run_dir / STOP_FILE) if stop_file else [])


