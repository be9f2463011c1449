"""`yolocls train`: resolve a preset into Ultralytics arguments, train offline-safely, keep run.json truthful."""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from yolocls import __version__
from yolocls.core.errors import ConfigError, RunError, YoloclsError
from yolocls.core.offline import import_ultralytics
from yolocls.core.runlayout import RUN_RECORD
from yolocls.data.layout import check_class_folders
from yolocls.data.manifest import load_manifest, manifest_sha256
from yolocls.training.balance import describe, resolve_balance
from yolocls.training.callbacks import Callback, StopRequested, log, run_callbacks
from yolocls.training.device import cpu_estimate_seconds, format_duration, resolve_device
from yolocls.training.hyperparams import BATCH_MAX, EPOCHS_MAX, IMGSZ_MAX, IMGSZ_MIN, ultralytics_args
from yolocls.training.interrupts import InterruptGuard
from yolocls.training.presets import get_preset, resolve_args
from yolocls.training.rundir import (
    STOP_FILE,
    RunRecord,
    best_from_results,
    load_run_record,
    now,
    read_results,
    repair_checkpoints,
    unique_run_dir,
    weights_path,
)
from yolocls.training.train_args import check_train_args, parse_set_values
from yolocls.training.weights import resolve_weights


class TrainingFailed(YoloclsError):
    """Ultralytics raised during training; run.json says `failed` with the error."""


class TrainOptions(BaseModel):
    """Options of `yolocls train` (CLI flags map 1:1)."""

    data: Path | None = None
    preset: str = "small-fast"
    name: str | None = None
    epochs: int | None = Field(default=None, ge=1, le=EPOCHS_MAX)
    imgsz: int | None = Field(default=None, ge=IMGSZ_MIN, le=IMGSZ_MAX)
    batch: int | None = Field(default=None, ge=1, le=BATCH_MAX)
    device: str = "auto"
    weights: Path | None = None
    pretrained: bool = True
    aug: str | None = None
    balance: str | None = Field(default=None, description="auto | none | weights | sampler (default: the "
                                "preset's, auto)")
    set: list[str] = Field(default_factory=list)
    resume: Path | None = None
    quiet: bool = False
    runs_dir: Path = Path("runs")
    report: bool = True
    stop_file: bool = Field(default=False, description="Stop at the next batch when RUN_DIR/.stop appears "
                            "(how the studio cancels a job, on any node of a cluster)")


def versions() -> dict[str, str]:
    import torch
    import ultralytics

    return {"yolocls": __version__, "ultralytics": ultralytics.__version__, "torch": torch.__version__,
            "python": platform.python_version()}


def _new_run(opts: TrainOptions) -> tuple[RunRecord, Path, str, dict[str, Any]]:
    if opts.data is None:
        raise ConfigError("--data DATASET_DIR is required (a folder made by `yolocls prepare`)")
    if opts.name == "model":  # Ultralytics silently renames a run called 'model' after the model file
        raise ConfigError("--name model is rewritten by Ultralytics; choose another run name")
    data = opts.data.expanduser().resolve()
    manifest = load_manifest(data)
    check_class_folders(data, manifest.classes)
    preset = get_preset(opts.preset)
    overrides = parse_set_values(opts.set) if opts.set else {}
    args = resolve_args(preset, opts.aug, {"epochs": opts.epochs, "imgsz": opts.imgsz, "batch": opts.batch},
                        overrides)
    check_train_args(args, f"preset '{opts.preset}' with your flags")
    device = resolve_device(opts.device)
    choice = resolve_weights(preset.model, opts.weights, opts.pretrained)
    log(choice.message if choice.source != "scratch" or not opts.pretrained else f"warning: {choice.message}",
        opts.quiet and choice.source != "scratch")
    if device == "cpu":
        n_train = sum(manifest.counts["train"].values())
        est = cpu_estimate_seconds(preset.model, int(args["imgsz"]), n_train, int(args["epochs"]))
        plan = (f"a time budget of {format_duration(float(args['time']) * 3600)}, the epochs and schedule fitted to "
                "it, for" if args.get("time") else f"roughly {format_duration(est)} for {args['epochs']} epochs of")
        log(f"warning: no CUDA GPU found, training on CPU ({plan} {n_train} images at {args['imgsz']} px); use a "
            "GPU for the full preset", opts.quiet)
    balance = resolve_balance(opts.balance or preset.balance, manifest.classes, manifest.counts["train"])
    log(describe(balance), opts.quiet)
    run_dir = unique_run_dir(opts.runs_dir.expanduser().resolve(), opts.name or f"{data.name}-{opts.preset}")
    full_args = {**args, "data": str(data), "project": str(run_dir.parent), "name": run_dir.name,
                 "exist_ok": True, "device": device}
    record = RunRecord(
        name=run_dir.name, status="running", preset=opts.preset, aug=opts.aug or preset.aug, model=preset.model,
        weights=choice.model, weights_source=choice.source, args=full_args, dataset=str(data),
        manifest_sha256=manifest_sha256(data), classes=manifest.classes, versions=versions(), device=device,
        started=now(), epochs_planned=int(args["epochs"]), command=sys.argv, balance=balance)
    record.save(run_dir)
    return record, run_dir, choice.model, full_args


def _resume_run(opts: TrainOptions) -> tuple[RunRecord, Path, str, dict[str, Any]]:
    run_dir = opts.resume.expanduser().resolve()  # type: ignore[union-attr]
    record = load_run_record(run_dir)
    if record is None:
        raise RunError(f"{run_dir}: no run.json; not a yolocls run folder")
    if record.status == "completed" or (record.epochs_planned and record.epochs_completed >= record.epochs_planned):
        raise RunError(f"{run_dir}: nothing to resume: all {record.epochs_completed} epochs finished "
                       f"(status {record.status}); see `yolocls report {run_dir}` or start a new run")
    restored = repair_checkpoints(run_dir)
    if restored:
        log(f"restored {', '.join(restored)} from the copy kept while it was being written (the run was killed)")
    last = weights_path(run_dir, "last")
    if not last.is_file():
        raise RunError(f"{run_dir}: no weights/last.pt to resume from (the run stopped before its first epoch); "
                       "start a new run")
    device = resolve_device(opts.device)
    record.status, record.error, record.ended, record.device = "running", None, None, device
    record.resumed += 1
    record.save(run_dir)
    return record, run_dir, str(last), {"resume": True, "device": device}


def train(opts: TrainOptions, extra: list[tuple[str, Callback]] | None = None) -> tuple[Path, RunRecord]:
    """Run (or resume) one training run; returns the run folder and its final record. `extra`: more (event,
    callback) pairs, after the run's own (a sweep's per-epoch report)."""
    if opts.quiet:
        import os

        os.environ["YOLO_VERBOSE"] = "false"
    import_ultralytics()
    record, run_dir, model_path, train_args = _resume_run(opts) if opts.resume else _new_run(opts)
    from ultralytics import YOLO

    from yolocls.training.trainer import YoloclsTrainer  # imports Ultralytics: after its offline set-up

    log(f"run folder: {run_dir}", opts.quiet)
    guard = InterruptGuard()
    (run_dir / STOP_FILE).unlink(missing_ok=True)
    guard.install()
    try:
        model = YOLO(model_path, task="classify")
        for event, callback in run_callbacks(record, run_dir, opts.quiet, guard, opts.stop_file) + (extra or []):
            model.add_callback(event, callback)
        model.train(trainer=YoloclsTrainer, **ultralytics_args(train_args), verbose=not opts.quiet)
        save_dir = Path(model.trainer.save_dir).resolve() if model.trainer is not None else None
        if save_dir != run_dir:
            raise RunError(f"Ultralytics wrote the run to {save_dir}, not {run_dir}; outputs are there")
        if opts.stop_file and (run_dir / STOP_FILE).exists() and not _all_epochs_done(record, run_dir):
            raise StopRequested("stop requested")  # multi-GPU (DDP): its ranks stopped at the end of an epoch
    except KeyboardInterrupt:
        with guard.deferred(raise_after=False):  # a second Ctrl-C must not leave `running` behind
            if guard.final_phase or _all_epochs_done(record, run_dir):  # only the final validation was stopped
                _finish(record, run_dir, "completed", None)
            else:
                _finish(record, run_dir, "interrupted", "interrupted (Ctrl-C or SIGTERM); continue with "
                        f"`yolocls train --resume {run_dir}`")
        raise
    except BaseException as exc:
        with guard.deferred(raise_after=False):
            _finish(record, run_dir, "failed", f"{type(exc).__name__}: {exc}")
        if isinstance(exc, YoloclsError):
            raise
        raise TrainingFailed(f"training failed: {type(exc).__name__}: {exc} (run record: {run_dir / RUN_RECORD})"
                             ) from exc
    finally:
        guard.restore()
    _finish(record, run_dir, "completed", None)
    return run_dir, record


def _all_epochs_done(record: RunRecord, run_dir: Path) -> bool:
    rows = read_results(run_dir)
    return bool(rows) and int(rows[-1].get("epoch", len(rows))) >= record.epochs_planned


def _finish(record: RunRecord, run_dir: Path, status: str, error: str | None) -> None:
    rows = read_results(run_dir)
    if rows:
        record.epochs_completed = int(rows[-1].get("epoch", len(rows)))
    best, best_metrics = best_from_results(rows)
    if best is not None:
        record.best_epoch, record.best_metric = best, best_metrics
    record.status, record.error, record.ended = status, error, now()  # type: ignore[assignment]
    record.save(run_dir)
