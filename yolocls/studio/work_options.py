"""What a job's worker function is called with: its stored options (names relative to the home, as clients see
them) turned into the absolute paths a worker needs, plus where it reports progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yolocls.studio.jobmodel import JobKind
from yolocls.studio.models import JobRow


def home_path(home: Path, value: str | None) -> str | None:
    """A path stored relative to the home -> absolute. Rows written by older versions hold absolute paths,
    which stay as they are."""
    return None if value is None else str(home / value)


def worker_options(job: JobRow, home: Path, runs_dir: Path, progress_file: Path) -> dict[str, Any]:
    options = dict(job.params["options"])
    if job.kind == JobKind.PREPARE:
        for key in ("source", "csv", "out"):
            options[key] = home_path(home, options.get(key))
        return {**options, "progress_file": str(progress_file)}
    if job.kind in (JobKind.INGEST, JobKind.VERSION, JobKind.SUGGEST):
        paths = ("source", "csv", "pool", "snapshot", "out", "home", "folder", "list", "model_file", "weights",
                 "images")
        return {**{k: home_path(home, v) if k in paths else v for k, v in options.items()},
                "progress_file": str(progress_file)}
    if job.kind == JobKind.DEPLOY:
        return {"run_dir": str(runs_dir / str(job.run_name)), "copy_to": home_path(home, options["incoming"]),
                "progress_file": str(progress_file)}
    if job.kind == JobKind.SWEEP:
        return {**options, "data": home_path(home, options["data"]), "runs_dir": str(runs_dir)}
    if job.kind in (JobKind.CURVE, JobKind.LABEL_CHECK):
        return {**options, "data": home_path(home, options["data"]), "runs_dir": str(runs_dir),
                "progress_file": str(progress_file)}
    if "resume" in options:
        return {**options, "resume": str(runs_dir / Path(options["resume"]).name)}
    return {**options, "data": home_path(home, options["data"]), "runs_dir": str(runs_dir)}


def device_of(job: JobRow) -> str | None:
    """The device a job that trains asked for."""
    options = job.params["options"]
    if job.kind in (JobKind.SWEEP, JobKind.LABEL_CHECK):
        return "cpu"  # the job's own task trains nothing: its trials (folds) reserve their CPUs/GPUs
    return options["train"].get("device") if job.kind in (JobKind.CURVE, JobKind.LABEL_CHECK) \
        else options.get("device")
