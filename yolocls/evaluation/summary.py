"""Run summaries without pandas, scikit-learn or torch: the schema of report/metrics.json and one leaderboard
row per run folder, read alike by `yolocls runs` and the studio."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field

from yolocls.core.errors import RunError, YoloclsError
from yolocls.core.runlayout import METRICS_FILE, REPORT_DIR, WEIGHTS_DIR
from yolocls.training.rundir import load_run_record


class ClassMetrics(BaseModel):
    precision: float
    recall: float
    f1: float
    support: int
    avg_confidence: float = Field(description="Mean top-1 probability over images whose true class is this one")


class ReportMetrics(BaseModel):
    """`report/metrics.json`."""

    split: str
    weights: str
    images: int
    top1: float
    top5: float
    macro: dict[str, float] = Field(description="precision / recall / f1, unweighted mean over classes")
    weighted: dict[str, float] = Field(description="precision / recall / f1, weighted by support")
    avg_confidence: float = Field(description="Mean top-1 probability over all images")
    avg_confidence_correct: float | None
    avg_confidence_wrong: float | None
    ece: float = Field(description="Expected calibration error, 15 equal-width confidence bins")
    roc_auc_ovr: float | None = Field(description="Macro one-vs-rest ROC-AUC (two classes: the AUC of the "
                                       "second class); null when a class has no images")
    log_loss: float
    per_class: dict[str, ClassMetrics]


class RunSummary(BaseModel):
    """One leaderboard row: the run record's headline and, once reported, the report's."""

    run: str
    status: str
    preset: str | None = None
    dataset: str | None = None
    epochs: str | None = None
    best_epoch: int | None = None
    val_top1: float | None = None
    split: str | None = None
    top1: float | None = None
    macro_f1: float | None = None
    min_recall: float | None = Field(default=None, description="The lowest per-class recall of the report (what "
                                     "class balancing is for)")
    balance: str | None = Field(default=None, description="How class imbalance was handled (--balance)")
    started: datetime | None = None


def read_report_metrics(run_dir: Path) -> ReportMetrics | None:
    """report/metrics.json validated by its model; None when the run has no report."""
    path = run_dir / REPORT_DIR / METRICS_FILE
    if not path.is_file():
        return None
    try:
        return ReportMetrics.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise RunError(f"{path}: unreadable report metrics ({str(exc).splitlines()[0]}); run `yolocls report "
                       f"{run_dir}` again") from None


def summarize(run_dir: Path) -> RunSummary | None:
    """The row of one run folder (yolocls or plain Ultralytics), None when it is not a run folder.
    A damaged run.json or metrics.json raises RunError naming the file."""
    record = load_run_record(run_dir)
    report = read_report_metrics(run_dir)
    if record is None and not (run_dir / WEIGHTS_DIR).is_dir():
        return None
    return RunSummary(
        run=run_dir.name, status=record.status if record else "ultralytics",
        preset=record.preset if record else None, dataset=Path(record.dataset).name if record else None,
        epochs=f"{record.epochs_completed}/{record.epochs_planned}" if record else None,
        best_epoch=record.best_epoch if record else None,
        val_top1=record.best_metric.get("top1") if record else None,
        split=report.split if report else None, top1=report.top1 if report else None,
        macro_f1=report.macro.get("f1") if report else None, started=record.started if record else None,
        min_recall=min((c.recall for c in report.per_class.values()), default=None) if report else None,
        balance=record.balance.mode if record and record.balance else None)


def leaderboard(runs_dir: Path, warn: Callable[[str], None] | None = None) -> list[RunSummary]:
    """Every run under runs_dir, best test top-1 first, then best val top-1; a run whose run.json or
    metrics.json is damaged is left out, with a warning naming the file."""
    rows = []
    runs = sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if runs_dir.is_dir() else []
    for run in runs:
        try:
            row = summarize(run)
        except YoloclsError as exc:
            if warn is not None:
                warn(f"skipped run {run.name}: {exc}")
            continue
        if row is not None:
            rows.append(row)
    return sorted(rows, key=lambda r: (r.top1 is None, -(r.top1 or 0), r.val_top1 is None, -(r.val_top1 or 0)))
