"""Runs as the studio shows them: one run's detail, its files, its preview (the leaderboard rows are
`evaluation.summary`'s, as for `yolocls runs`). Read straight from runs/, no torch or pandas."""

from __future__ import annotations

import csv
from pathlib import Path

from yolocls.core.errors import YoloclsError
from yolocls.core.runlayout import CONFUSION_FILE, OPENSET_FILE, PREDICTIONS_FILE, REPORT_DIR, REPORT_HTML, report_rel
from yolocls.data.layout import SPLITS
from yolocls.evaluation.summary import read_report_metrics
from yolocls.studio.schemas import ConfusionOut, PredictionRow, PreviewOut, RunDetail
from yolocls.studio.thumbs import inside
from yolocls.training.rundir import (
    RUN_RECORD,
    WEIGHTS_DIR,
    dataset_of_run,
    load_run_record,
    read_epochs,
    read_preview,
)

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
    files = served_files(run_dir)
    named = {"report_html": report_rel(REPORT_HTML), "openset": report_rel(OPENSET_FILE)}
    return RunDetail(run=run_dir.name, record=record.model_dump(mode="json") if record else None,
                     epochs=read_epochs(run_dir), report=report.model_dump(mode="json") if report else None,
                     files=files, links={k: v for k, v in named.items() if v in files})


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


def dataset_image(run_dir: Path, rel: str) -> Path:
    """An image of the run's dataset by its path inside the dataset (as in preview.json and predictions.csv)."""
    try:
        dataset = dataset_of_run(run_dir, None)
    except YoloclsError as exc:
        raise RunNotFound(f"run {run_dir.name}: its dataset is not available ({exc})") from None
    parts = rel.split("/")
    path = inside(dataset, rel) if len(parts) == 3 and parts[0] in SPLITS else None
    if path is None:
        raise RunNotFound(f"{rel}: not an image of run {run_dir.name}'s dataset")
    return path


def _report_csv(run_dir: Path, name: str) -> list[list[str]]:
    path = run_dir / REPORT_DIR / name
    if not path.is_file():
        raise RunNotFound(f"run {run_dir.name} has no report yet (report/{name}); it is written when training ends")
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def confusion(run_dir: Path) -> ConfusionOut:
    rows = _report_csv(run_dir, CONFUSION_FILE)
    metrics = read_report_metrics(run_dir)
    return ConfusionOut(run=run_dir.name, split=metrics.split if metrics else "", classes=rows[0][1:],
                        matrix=[[int(v) for v in r[1:]] for r in rows[1:]])


def predictions(run_dir: Path, true: str | None, predicted: str | None, wrong: bool, limit: int
                ) -> list[PredictionRow]:
    rows = _report_csv(run_dir, PREDICTIONS_FILE)
    head = {name: i for i, name in enumerate(rows[0])}
    out = [PredictionRow(path=r[head["path"]], true=r[head["true"]], predicted=r[head["predicted"]],
                         confidence=float(r[head["confidence"]])) for r in rows[1:]]
    out = [p for p in out if (true is None or p.true == true) and (predicted is None or p.predicted == predicted)
           and (not wrong or p.true != p.predicted)]
    out.sort(key=lambda p: -p.confidence)
    return out[:limit]
