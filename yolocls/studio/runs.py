"""Runs as the studio shows them: the leaderboard (CLI runs included), one run's detail, its files, its
preview. Read straight from runs/ (run.json, epochs.jsonl, report/metrics.json), no torch or pandas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from yolocls.core.errors import RunError, YoloclsError
from yolocls.studio.schemas import PreviewOut, RunDetail, RunSummary
from yolocls.training.rundir import WEIGHTS_DIR, load_run_record, read_epochs, read_preview

REPORT_METRICS = Path("report") / "metrics.json"
# What GET /runs/{name}/files/{path} serves: results and report files, never checkpoints (pickles).
SERVED_SUFFIXES = {".csv", ".png", ".jpg", ".json", ".jsonl", ".html", ".txt", ".yaml"}


class RunNotFound(YoloclsError):
    status_code = 404


def run_folder(runs_dir: Path, name: str) -> Path:
    if not name or "/" in name or "\\" in name or name.startswith(".") or name in ("..",):
        raise RunNotFound(f"run '{name}' not found")
    path = runs_dir / name
    if not path.is_dir() or not ((path / "run.json").is_file() or (path / WEIGHTS_DIR).is_dir()):
        raise RunNotFound(f"run '{name}' not found under {runs_dir.name}/")
    return path


def _report(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / REPORT_METRICS
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, OSError):
        raise RunError(f"{path}: unreadable report metrics") from None


def summary(run_dir: Path) -> RunSummary:
    record = load_run_record(run_dir)
    report = _report(run_dir) or {}
    return RunSummary(
        run=run_dir.name, status=record.status if record else "ultralytics",
        preset=record.preset if record else None, dataset=Path(record.dataset).name if record else None,
        epochs=f"{record.epochs_completed}/{record.epochs_planned}" if record else None,
        best_epoch=record.best_epoch if record else None,
        val_top1=record.best_metric.get("top1") if record else None, split=report.get("split"),
        top1=report.get("top1"), macro_f1=(report.get("macro") or {}).get("f1"),
        started=record.started if record else None)


def leaderboard(runs_dir: Path) -> list[RunSummary]:
    """Every run (damaged ones left out), best test top-1 first, then best val top-1."""
    rows = []
    for path in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            rows.append(summary(run_folder(runs_dir, path.name)))
        except YoloclsError:
            continue
    return sorted(rows, key=lambda r: (r.top1 is None, -(r.top1 or 0), r.val_top1 is None, -(r.val_top1 or 0)))


def served_files(run_dir: Path) -> list[str]:
    return sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")
                  if p.is_file() and p.suffix.lower() in SERVED_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(run_dir).parts))


def detail(run_dir: Path) -> RunDetail:
    record = load_run_record(run_dir)
    return RunDetail(run=run_dir.name, record=record.model_dump(mode="json") if record else None,
                     epochs=read_epochs(run_dir), report=_report(run_dir), files=served_files(run_dir))


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
