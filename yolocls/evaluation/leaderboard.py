"""`yolocls runs`: the leaderboard of every run under runs/ (yolocls runs and plain Ultralytics runs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from yolocls.core.errors import RunError, YoloclsError
from yolocls.evaluation.metrics import ReportMetrics
from yolocls.evaluation.report import REPORT_DIR
from yolocls.training.rundir import WEIGHTS_DIR, load_run_record


def _read_metrics(path: Path) -> dict[str, Any]:
    """report/metrics.json validated by its model, or {} when the run has no report."""
    if not path.is_file():
        return {}
    try:
        return ReportMetrics.model_validate_json(path.read_text(encoding="utf-8")).model_dump()
    except (ValueError, OSError) as exc:
        raise RunError(f"{path}: unreadable report metrics ({str(exc).splitlines()[0]}); run `yolocls report "
                       f"{path.parent.parent}` again") from None


def _row(run: Path) -> dict[str, Any] | None:
    record = load_run_record(run)
    metrics = _read_metrics(run / REPORT_DIR / "metrics.json")
    if record is None and not (run / WEIGHTS_DIR).is_dir():
        return None  # not a run folder
    return {
        "run": run.name,
        "status": record.status if record else "ultralytics",
        "preset": record.preset if record else None,
        "dataset": Path(record.dataset).name if record else None,
        "epochs": f"{record.epochs_completed}/{record.epochs_planned}" if record else None,
        "best_epoch": record.best_epoch if record else None,
        "val_top1": record.best_metric.get("top1") if record else None,
        "split": metrics.get("split"),
        "top1": metrics.get("top1"),
        "macro_f1": (metrics.get("macro") or {}).get("f1"),
        "started": record.started.strftime("%Y-%m-%d %H:%M") if record else None,
    }


def runs_table(runs_dir: Path, warn: Callable[[str], None] | None = None) -> pd.DataFrame:
    """One row per run under runs_dir: status, preset, dataset, epochs, best epoch, headline metrics.
    A run whose run.json or metrics.json is damaged is left out, with a warning naming the file."""
    rows = []
    runs = sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if runs_dir.is_dir() else []
    for run in runs:
        try:
            row = _row(run)
        except YoloclsError as exc:
            if warn is not None:
                warn(f"skipped run {run.name}: {exc}")
            continue
        if row is not None:
            rows.append(row)
    df = pd.DataFrame(rows)
    if not df.empty:
        df = df.sort_values(by=["top1", "val_top1"], ascending=False, na_position="last").reset_index(drop=True)
    return df
