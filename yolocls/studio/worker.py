"""Code that runs inside Ray worker processes: prepare a dataset, train, export. The studio's web process
never calls these bodies (it only submits them), so torch and Ultralytics load in workers only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yolocls.studio.jobmodel import (
    CurveResult,
    ExportResult,
    PrepareResult,
    SweepResult,
    TrainResult,
    device_in_worker,
)
from yolocls.studio.label_worker import run_ingest, run_label_check, run_suggest, run_version
from yolocls.studio.worker_env import error_line, log_to, ray_gpus, started

__all__ = ["run_curve", "run_export", "run_ingest", "run_label_check", "run_prepare", "run_suggest", "run_sweep",
           "run_train", "run_version"]


def run_prepare(options: dict[str, Any], log: str) -> PrepareResult:
    """PrepareOptions as a dict -> the dataset folder written, or the error."""
    with log_to(Path(log)):
        try:
            options = started(options)
            from yolocls.data.prepare import PrepareOptions, prepare_dataset

            result = prepare_dataset(PrepareOptions.model_validate({**options, "progress": False}))
            print(f"dataset written to {result.out}: {len(result.manifest.classes)} classes, "
                  f"{len(result.manifest.files)} images, {len(result.manifest.skipped)} skipped", flush=True)
            return PrepareResult(ok=True, out=str(result.out))
        except BaseException as exc:  # everything goes back to the studio as the job's error
            print(f"prepare failed: {error_line(exc)}", flush=True)
            return PrepareResult(ok=False, error=error_line(exc))


def run_train(options: dict[str, Any], log: str) -> TrainResult:
    """TrainOptions as a dict -> how the run ended (completed, interrupted, failed), its folder, its error."""
    with log_to(Path(log)):
        try:
            options = started(options)
            from yolocls.training.runner import TrainOptions, train

            options = {**options, "device": device_in_worker(options.get("device"), ray_gpus())}
            run_dir, record = train(TrainOptions.model_validate({**options, "stop_file": True}))
        except KeyboardInterrupt:  # the stop file (cancel) or a signal: checkpoints kept, resumable
            return TrainResult(status="interrupted", error="stopped")
        except BaseException as exc:
            print(f"training failed: {error_line(exc)}", flush=True)
            return TrainResult(status="failed", error=error_line(exc))
        from yolocls.evaluation.report import report_after_training

        # as `yolocls train` does: the report (confusion matrix, per-class table, mistakes) at the end
        report_after_training(run_dir, lambda line: print(line, flush=True))
        status = record.status if record.status in ("completed", "interrupted") else "failed"
        return TrainResult(status=status, run=str(run_dir), error=record.error)


def run_export(options: dict[str, Any], log: str) -> ExportResult:
    """Options {"run_dir", "copy_to", "progress_file"} -> ONNX export with the parity check, its own file placed
    at `copy_to`: its hash, parity, size and classes, or the error. Stages go to the progress file."""
    from yolocls.core.progress import write_progress

    progress = Path(options["progress_file"])
    with log_to(Path(log)):
        try:
            options = started(options)
            from yolocls.export import ExportOptions, export_model

            write_progress(progress, {"stage": "export"})
            Path(options["copy_to"]).unlink(missing_ok=True)  # a retry after a restart starts clean
            record = export_model(ExportOptions(run_dir=Path(options["run_dir"]), copy_to=Path(options["copy_to"])))
            write_progress(progress, {"stage": "parity check", "parity": record.parity.model_dump()})
            return ExportResult(ok=True, path=options["copy_to"], sha256=record.sha256,
                                parity=record.parity.model_dump(), imgsz=record.imgsz, classes=record.classes)
        except BaseException as exc:
            print(f"export failed: {error_line(exc)}", flush=True)
            return ExportResult(ok=False, error=error_line(exc))


def run_curve(options: dict[str, Any], log: str) -> CurveResult:
    """Options {"data", "runs_dir", "name", "fractions", "train", "progress_file"} -> a learning curve (one run per
    fraction, then the fit): its folder under runs/ and the verdict, or the error."""
    with log_to(Path(log)):
        try:
            options = started(options)
            from yolocls.evaluation.learning_curve import CurveOptions, learning_curve

            train = {**options["train"], "device": device_in_worker(options["train"].get("device"), ray_gpus())}
            result = learning_curve(CurveOptions.model_validate({**options, "train": train}))
            print(result.verdict, flush=True)
            return CurveResult(ok=True, folder=result.folder.name, verdict=result.verdict)
        except BaseException as exc:
            print(f"learning curve failed: {error_line(exc)}", flush=True)
            return CurveResult(ok=False, error=error_line(exc))


def run_sweep(options: dict[str, Any], log: str) -> SweepResult:
    """SweepOptions as a dict -> a Ray Tune sweep on the studio's own Ray (trials placed on its free CPUs): the
    sweep's folder under runs/ and its best trial, or the error."""
    with log_to(Path(log)):
        try:
            options = started(options)
            from yolocls.training.sweep import SweepOptions, sweep

            result = sweep(SweepOptions.model_validate(options))
            best = result.best.model_dump() if result.best else None
            print(f"best: {best}", flush=True)
            return SweepResult(ok=best is not None, folder=result.folder.name, best=best, trials=len(result.trials),
                               error=None if best else "no trial finished an epoch; see the job's log")
        except BaseException as exc:
            print(f"sweep failed: {error_line(exc)}", flush=True)
            return SweepResult(ok=False, error=error_line(exc))
