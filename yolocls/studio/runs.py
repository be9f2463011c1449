"""Runs as the studio shows them: one run's detail, its files, its preview (the leaderboard rows are
`evaluation.summary`'s, as for `yolocls runs`). Read straight from runs/, no torch or pandas."""

from __future__ import annotations

from pathlib import Path

from yolocls.core.errors import YoloclsError
from yolocls.evaluation.summary import read_report_metrics
from yolocls.studio.schemas import PreviewOut, RunDetail
from yolocls.training.rundir import RUN_RECORD, WEIGHTS_DIR, load_run_record, read_epochs, read_preview

# What GET /runs/{name}/files/{path} serves: results and report files, never checkpoints (pickles).
SERVED_SUFFIXES = {".csv", ".png", ".jpg", ".json", ".jsonl", ".html", ".txt", ".yaml"}


class RunNotFound(YoloclsError):
    status_code = 404


def run_folder(runs_dir: Path, name: str) -> Path:
    if not name or "/" in name or "\\" in name or name.startswith(".") or name in ("..",):
        raise RunNotFound(f"run '{name}' not found")
    path = runs_dir / name
    if not path.is_dir() or not ((path / RUN_RECORD).is_file() or (path / WEIGHTS_DIR).is_dir()):
        raise RunNotFound(f"run '{name}' not found under {runs_dir.name}/")
    return path


def served_files(run_dir: Path) -> list[str]:
    return sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")
                  if p.is_file() and p.suffix.lower() in SERVED_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(run_dir).parts))


def detail(run_dir: Path) -> RunDetail:
    record = load_run_record(run_dir)
    report = read_report_metrics(run_dir)
    return RunDetail(run=run_dir.name, record=record.model_dump(mode="json") if record else None,
                     epochs=read_epochs(run_dir), report=report.model_dump(mode="json") if report else None,
                     files=served_files(run_dir))


def run_file(run_dir: Path, rel: str) -> Path:
    """A file inside the run folder, by relative path; never outside it, never a checkpoint."""
    target = (run_dir / rel).resolve()
    if not target.is_relative_to(run_dir.resolve()) or any(p.startswith(".") for p in Path(rel).parts):
        raise RunNotFound(f"{rel}: not a file of run {run_dir.name}")
    if not target.is_file() or target.suffix.lower() not in SERVED_SUFFIXES:
        raise RunNotFound(f"{rel}: no such report file in run {run_dir.name} (served: "
                          f"{', '.join(sorted(SERVED_SUFFIXES))})")
    return target


def preview(run_dir: Path, epoch: int | None) -> PreviewOut:
    data = read_preview(run_dir)
    if data is None:
        raise RunNotFound(f"run {run_dir.name} has no evaluation preview (it has not finished an epoch)")
    epochs = [e.epoch for e in data.epochs]
    chosen = epoch if epoch is not None else (epochs[-1] if epochs else None)
    match = next((e for e in data.epochs if e.epoch == chosen), None)
    if epoch is not None and match is None:
        raise RunNotFound(f"run {run_dir.name} has no preview for epoch {epoch} (epochs: {epochs})")
    return PreviewOut(run=run_dir.name, epoch=chosen, epochs=epochs, images=data.images, predictions=match)
