"""Code that runs inside Ray worker processes: prepare a dataset, train, export. The studio's web process
never calls these bodies (it only submits them), so torch and Ultralytics load in workers only."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from yolocls.core.limits import CPU_THREADS_ENV, set_opencv_pixel_cap
from yolocls.studio.jobmodel import (
    CurveResult,
    ExportResult,
    IngestResult,
    PrepareResult,
    SweepResult,
    TrainResult,
    VersionResult,
    device_in_worker,
)


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """Send this process's stdout/stderr (file descriptors too: Ultralytics' logger) to the job's log file."""
    set_opencv_pixel_cap()  # a Ray worker process: OpenCV's limit before a job imports cv2 (kept when already set)
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


STUDIO_KEYS = ("started_file", "studio_version", "cpu_threads")  # what the scheduler adds to a job's own options


def _started(options: dict[str, Any]) -> dict[str, Any]:
    """Tell the studio this job's worker is running (until then the job is queued, in Ray's queue), check that
    this node runs the studio's yolocls version, and return the job's own options."""
    from yolocls import __version__
    from yolocls.core.errors import YoloclsError

    if options.get("started_file"):
        Path(options["started_file"]).touch()
    wanted = options.get("studio_version")
    if wanted and wanted != __version__:
        raise YoloclsError(f"this worker node runs yolocls {__version__}, the studio {wanted}: install the same "
                           "version on every node of the cluster")
    if options.get("cpu_threads"):  # the CPUs this job reserved: the trainer trains with as many torch threads
        os.environ[CPU_THREADS_ENV] = str(options["cpu_threads"])
    return {k: v for k, v in options.items() if k not in STUDIO_KEYS}


def _ray_gpus() -> int:
    """GPUs Ray assigned to this worker (0 outside Ray or on a CPU-only cluster)."""
    try:
        import ray

        return len(ray.get_gpu_ids()) if ray.is_initialized() else 0
    except Exception:
        return 0


def _error(exc: BaseException) -> str:
    from yolocls.core.errors import YoloclsError

    return str(exc) if isinstance(exc, YoloclsError) else f"{type(exc).__name__}: {exc}"


def run_prepare(options: dict[str, Any], log: str) -> PrepareResult:
    """PrepareOptions as a dict -> the dataset folder written, or the error."""
    with _log_to(Path(log)):
        try:
            options = _started(options)
            from yolocls.data.prepare import PrepareOptions, prepare_dataset

            result = prepare_dataset(PrepareOptions.model_validate({**options, "progress": False}))
            print(f"dataset written to {result.out}: {len(result.manifest.classes)} classes, "
                  f"{len(result.manifest.files)} images, {len(result.manifest.skipped)} skipped", flush=True)
            return PrepareResult(ok=True, out=str(result.out))
        except BaseException as exc:  # everything goes back to the studio as the job's error
            print(f"prepare failed: {_error(exc)}", flush=True)
            return PrepareResult(ok=False, error=_error(exc))


def run_ingest(options: dict[str, Any], log: str) -> IngestResult:
    """An upload for labelling -> its images checked and stored in the dataset's pool (scan.json, images.jsonl)."""
    with _log_to(Path(log)):
        try:
            options = _started(options)
            import shutil

            from yolocls.core.limits import available_cpus
            from yolocls.data.archive import extract_archive
            from yolocls.data.pool import scan_pool, write_pool

            source, pool = Path(options["source"]), Path(options["pool"])
            extracted = source.parent / "_extracted"
            shutil.rmtree(extracted, ignore_errors=True)  # a try interrupted by a restart
            root = extract_archive(source, extracted)
            csv = Path(options["csv"]).read_bytes() if options.get("csv") else None
            scan = scan_pool(root, pool, csv, progress_file=Path(options["progress_file"]),
                             workers=available_cpus())
            write_pool(scan, pool)
            print(f"{len(scan.images)} images stored for labelling ({sum(im.label is not None for im in scan.images)}"
                  f" with a label), {len(scan.skipped)} skipped", flush=True)
            return IngestResult(ok=True, images=len(scan.images), skipped=len(scan.skipped))
        except BaseException as exc:
            print(f"upload for labelling failed: {_error(exc)}", flush=True)
            return IngestResult(ok=False, error=_error(exc))


def run_version(options: dict[str, Any], log: str) -> VersionResult:
    """A labelling snapshot -> the version's dataset folder (prepare's checks and manifest)."""
    with _log_to(Path(log)):
        try:
            options = _started(options)
            from yolocls.data.version_build import build_version

            result = build_version(Path(options["snapshot"]), Path(options["home"]), Path(options["out"]),
                                   progress_file=Path(options["progress_file"]))
            if result is not None:
                print(f"version written: {len(result.manifest.classes)} classes, {len(result.manifest.files)} "
                      f"images, {len(result.manifest.skipped)} skipped", flush=True)
            return VersionResult(ok=True, out=options["out"])
        except BaseException as exc:
            print(f"version failed: {_error(exc)}", flush=True)
            return VersionResult(ok=False, error=_error(exc))


def run_train(options: dict[str, Any], log: str) -> TrainResult:
    """TrainOptions as a dict -> how the run ended (completed, interrupted, failed), its folder, its error."""
    with _log_to(Path(log)):
        try:
            options = _started(options)
            from yolocls.training.runner import TrainOptions, train

            options = {**options, "device": device_in_worker(options.get("device"), _ray_gpus())}
            run_dir, record = train(TrainOptions.model_validate({**options, "stop_file": True}))
        except KeyboardInterrupt:  # the stop file (cancel) or a signal: checkpoints kept, resumable
            return TrainResult(status="interrupted", error="stopped")
        except BaseException as exc:
            print(f"training failed: {_error(exc)}", flush=True)
            return TrainResult(status="failed", error=_error(exc))
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
    with _log_to(Path(log)):
        try:
            options = _started(options)
            from yolocls.export import ExportOptions, export_model

            write_progress(progress, {"stage": "export"})
            Path(options["copy_to"]).unlink(missing_ok=True)  # a retry after a restart starts clean
            record = export_model(ExportOptions(run_dir=Path(options["run_dir"]), copy_to=Path(options["copy_to"])))
            write_progress(progress, {"stage": "parity check", "parity": record.parity.model_dump()})
            return ExportResult(ok=True, path=options["copy_to"], sha256=record.sha256,
                                parity=record.parity.model_dump(), imgsz=record.imgsz, classes=record.classes)
        except BaseException as exc:
            print(f"export failed: {_error(exc)}", flush=True)
            return ExportResult(ok=False, error=_error(exc))


def run_curve(options: dict[str, Any], log: str) -> CurveResult:
    """Options {"data", "runs_dir", "name", "fractions", "train", "progress_file"} -> a learning curve (one run per
    fraction, then the fit): its folder under runs/ and the verdict, or the error."""
    with _log_to(Path(log)):
        try:
            options = _started(options)
            from yolocls.evaluation.learning_curve import CurveOptions, learning_curve

            train = {**options["train"], "device": device_in_worker(options["train"].get("device"), _ray_gpus())}
            result = learning_curve(CurveOptions.model_validate({**options, "train": train}))
            print(result.verdict, flush=True)
            return CurveResult(ok=True, folder=result.folder.name, verdict=result.verdict)
        except BaseException as exc:
            print(f"learning curve failed: {_error(exc)}", flush=True)
            return CurveResult(ok=False, error=_error(exc))


def run_sweep(options: dict[str, Any], log: str) -> SweepResult:
    """SweepOptions as a dict -> a Ray Tune sweep on the studio's own Ray (trials placed on its free CPUs): the
    sweep's folder under runs/ and its best trial, or the error."""
    with _log_to(Path(log)):
        try:
            options = _started(options)
            from yolocls.training.sweep import SweepOptions, sweep

            result = sweep(SweepOptions.model_validate(options))
            best = result.best.model_dump() if result.best else None
            print(f"best: {best}", flush=True)
            return SweepResult(ok=best is not None, folder=result.folder.name, best=best, trials=len(result.trials),
                               error=None if best else "no trial finished an epoch; see the job's log")
        except BaseException as exc:
            print(f"sweep failed: {_error(exc)}", flush=True)
            return SweepResult(ok=False, error=_error(exc))
