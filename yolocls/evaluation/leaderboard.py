"""`yolocls runs`: the leaderboard of every run under runs/ (yolocls runs and plain Ultralytics runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from yolocls.evaluation.report import REPORT_DIR
from yolocls.training.rundir import WEIGHTS_DIR, load_run_record


def runs_table(runs_dir: Path) -> pd.DataFrame:
    """One row per run under runs_dir: status, preset, dataset, epochs, best epoch, headline metrics."""
    rows = []
    for run in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if runs_dir.is_dir() else []:
        record = load_run_record(run)
        metrics_path = run / REPORT_DIR / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        if record is None and not (run / WEIGHTS_DIR).is_dir():
            continue
        rows.append({
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
        })
    df = pd.DataFrame(rows)
    if not df.empty:
        df = df.sort_values(by=["top1", "val_top1"], ascending=False, na_position="last").reset_index(drop=True)
    return df
