"""`yolocls report` and `yolocls runs`: metrics, confusion matrices, mistakes and a leaderboard from runs/."""

from __future__ import annotations

import base64
import html
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel
from tqdm import tqdm

from yolocls.classifier import predict_paths, top_k
from yolocls.errors import DatasetError, RunError
from yolocls.manifest import class_folder_mismatch
from yolocls.metrics import ReportMetrics, compute_metrics, confusion
from yolocls.plots import plot_confusion, plot_mistakes, plot_training_curves
from yolocls.runrecord import load_run_record
from yolocls.train import read_results

REPORT_DIR = "report"
MAX_MISTAKES = 16


class ReportOptions(BaseModel):
    run_dir: Path
    split: Literal["val", "test"] | None = None
    weights: Literal["best", "last"] = "best"
    data: Path | None = None
    device: str = "auto"


@dataclass
class ReportResult:
    report_dir: Path
    metrics: ReportMetrics


def _image_suffixes() -> set[str]:
    from ultralytics.data.utils import IMG_FORMATS

    return {f".{s.lower()}" for s in IMG_FORMATS}


def run_weights(run_dir: Path, which: str, action: str) -> tuple[Path, Path]:
    """(resolved run folder, its weights/<which>.pt), with errors naming what is missing."""
    run_dir = run_dir.expanduser().resolve()
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: run folder not found")
    weights = run_dir / "weights" / f"{which}.pt"
    if not weights.is_file():
        raise RunError(f"{weights}: no weights to {action} (the run has not finished an epoch?); train first"
                       f"{' or choose --weights last' if which == 'best' else ''}")
    return run_dir, weights


def dataset_of_run(run_dir: Path, data: Path | None) -> Path:
    """--data, else run.json's dataset, else Ultralytics' args.yaml `data` (plain Ultralytics runs)."""
    if data is not None:
        expected, origin = data.expanduser().resolve(), "--data"
    else:
        record = load_run_record(run_dir)
        if record is not None:
            expected, origin = Path(record.dataset), "run.json"
        elif (run_dir / "args.yaml").is_file():
            args = yaml.safe_load((run_dir / "args.yaml").read_text()) or {}
            if not args.get("data"):
                raise RunError(f"{run_dir / 'args.yaml'}: no 'data' entry; pass --data DATASET_DIR")
            expected, origin = Path(str(args["data"])), "args.yaml"
        else:
            raise RunError(f"{run_dir}: no run.json or args.yaml to find the dataset; pass --data DATASET_DIR")
    if not expected.is_dir():
        raise DatasetError(f"dataset not found at {expected} (from {origin}); it was moved or deleted. "
                           "Pass --data with its new location")
    return expected


def list_split(dataset: Path, split: str, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    """Images and true class indices of one split; its class folders must match the model's classes."""
    folder = dataset / split
    mismatch = class_folder_mismatch(folder, classes)
    if mismatch:
        raise DatasetError(f"{folder}: class folders do not match the model's classes ({mismatch})")
    suffixes = _image_suffixes()
    paths: list[Path] = []
    labels: list[int] = []
    for idx, name in enumerate(classes):
        for p in sorted((folder / name).rglob("*")):
            if p.is_file() and p.suffix.lower() in suffixes:
                paths.append(p)
                labels.append(idx)
    if not paths:
        raise DatasetError(f"{folder}: no images")
    return paths, np.array(labels, dtype=np.int64)


def choose_split(dataset: Path, split: str | None) -> str:
    if split is None:
        return "test" if (dataset / "test").is_dir() else "val"
    if not (dataset / split).is_dir():
        raise DatasetError(f"{dataset}: no {split}/ split; available: "
                           f"{', '.join(s for s in ('train', 'val', 'test') if (dataset / s).is_dir())}")
    return split


def _img_tag(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.name)}">'


def _write_html(out: Path, run_dir: Path, metrics: ReportMetrics, per_class: pd.DataFrame,
                pictures: list[Path]) -> None:
    record = load_run_record(run_dir)
    args = record.args if record else {}
    headline = {"top-1": metrics.top1, "top-5": metrics.top5, "macro F1": metrics.macro["f1"],
                "weighted F1": metrics.weighted["f1"], "avg confidence": metrics.avg_confidence,
                "ECE": metrics.ece, "ROC-AUC (ovr)": metrics.roc_auc_ovr, "log loss": metrics.log_loss}
    rows = "".join(f"<tr><th>{k}</th><td>{'n/a' if v is None else f'{v:.4f}'}</td></tr>" for k, v in headline.items())
    arg_rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v))}</td></tr>"
                       for k, v in args.items())
    files = ["metrics.json", "per_class.csv", "predictions.csv", "confusion_matrix.csv"]
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
             "img{max-width:100%;border:1px solid #eee;margin:.5em 0}")
    name = html.escape(run_dir.name)
    preset = html.escape(str(record.preset if record else "n/a"))
    model = html.escape(record.model if record else "n/a")
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>yolocls report: {name}</title>
<style>{style}</style></head><body><h1>Run {name}</h1>
<p>Preset <b>{preset}</b>, model {model}, split <b>{metrics.split}</b> ({metrics.images} images),
weights {html.escape(metrics.weights)}.</p>
<h2>Headline</h2><table>{rows}</table>
<h2>Per class</h2>{per_class.to_html(float_format=lambda x: f"{x:.4f}")}
<h2>Pictures</h2>{''.join(_img_tag(p) for p in pictures)}
<h2>Files</h2><ul>{''.join(f'<li><a href="{f}">{f}</a></li>' for f in files)}</ul>
<p>confusion_matrix.csv: rows = TRUE class, columns = PREDICTED class.</p>
<h2>Training arguments (run.json)</h2><table>{arg_rows}</table></body></html>"""
    (out / "report.html").write_text(body, encoding="utf-8")


def write_report(opts: ReportOptions) -> ReportResult:
    """Evaluate the run's weights on a split and write RUN_DIR/report/ atomically."""
    from yolocls.torch_model import TorchClassifier

    run_dir, weights = run_weights(opts.run_dir, opts.weights, "evaluate")
    dataset = dataset_of_run(run_dir, opts.data)
    split = choose_split(dataset, opts.split)
    model = TorchClassifier(weights, opts.device)
    paths, y_true = list_split(dataset, split, model.classes)
    with tqdm(total=len(paths), desc=f"evaluating {split}", unit="img", file=sys.stderr, disable=None) as bar:
        probs = predict_paths(model, paths, workers=min(8, os.cpu_count() or 1), on_batch=bar.update)
    metrics = compute_metrics(y_true, probs, model.classes, split, f"{opts.weights}.pt")
    classes = model.classes
    pred = probs.argmax(axis=1)
    conf = probs.max(axis=1)

    final = run_dir / REPORT_DIR
    tmp = Path(tempfile.mkdtemp(prefix=f".{REPORT_DIR}.tmp-", dir=run_dir))
    try:
        (tmp / "metrics.json").write_text(metrics.model_dump_json(indent=2), encoding="utf-8")
        per_class = pd.DataFrame(
            [{"class": c, **m.model_dump()} for c, m in metrics.per_class.items()],
            columns=["class", "precision", "recall", "f1", "support", "avg_confidence"])
        per_class.to_csv(tmp / "per_class.csv", index=False)
        top5 = top_k(probs, 5)
        pd.DataFrame({
            "path": [p.relative_to(dataset).as_posix() for p in paths],
            "true": [classes[i] for i in y_true], "predicted": [classes[i] for i in pred],
            "confidence": conf.round(6), "correct": pred == y_true,
            "top5": ["|".join(classes[j] for j in row) for row in top5],
            "top5_confidence": ["|".join(f"{probs[i, j]:.6f}" for j in row) for i, row in enumerate(top5)],
        }).to_csv(tmp / "predictions.csv", index=False)
        matrix = confusion(y_true, pred, len(classes))
        pd.DataFrame(matrix, index=pd.Index(classes, name="true\\predicted"), columns=classes).to_csv(
            tmp / "confusion_matrix.csv")
        pictures = [tmp / "confusion_matrix.png", tmp / "confusion_matrix_normalized.png"]
        plot_confusion(matrix, classes, pictures[0], normalize=False)
        plot_confusion(matrix, classes, pictures[1], normalize=True)
        if plot_training_curves(read_results(run_dir), tmp / "training_curves.png"):
            pictures.append(tmp / "training_curves.png")
        wrong = np.flatnonzero(pred != y_true)
        wrong = wrong[np.argsort(-conf[wrong], kind="stable")][:MAX_MISTAKES]
        import cv2

        shown = [(i, cv2.imread(str(paths[i]), cv2.IMREAD_COLOR)) for i in wrong]
        imgs = [cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) for _, bgr in shown if bgr is not None]
        titles = [f"true: {classes[y_true[i]]}\npred: {classes[pred[i]]} ({conf[i]:.2f})"
                  for i, bgr in shown if bgr is not None]
        if plot_mistakes(imgs, titles, tmp / "mistakes.png"):
            pictures.append(tmp / "mistakes.png")
        _write_html(tmp, run_dir, metrics, per_class.set_index("class"), pictures)
        old = None
        if final.exists():
            old = run_dir / f".{REPORT_DIR}.old-{os.getpid()}"
            final.rename(old)
        tmp.rename(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ReportResult(report_dir=final, metrics=metrics)


def print_report_summary(result: ReportResult, file=sys.stdout) -> None:  # type: ignore[no-untyped-def]
    m = result.metrics
    print(f"{m.split}: {m.images} images  top1 {m.top1:.4f}  top5 {m.top5:.4f}  macro F1 {m.macro['f1']:.4f}  "
          f"avg confidence {m.avg_confidence:.3f}  ECE {m.ece:.3f}", file=file)
    table = pd.DataFrame({c: v.model_dump() for c, v in m.per_class.items()}).T
    table.index.name = "class"
    table["support"] = table["support"].astype(int)
    print(table.to_string(float_format=lambda x: f"{x:.3f}"), file=file)
    print(f"report: {result.report_dir / 'report.html'}", file=file)


def runs_table(runs_dir: Path) -> pd.DataFrame:
    """One row per run under runs_dir: status, preset, dataset, epochs, best epoch, headline metrics."""
    rows = []
    for run in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if runs_dir.is_dir() else []:
        record = load_run_record(run)
        metrics_path = run / REPORT_DIR / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        if record is None and not (run / "weights").is_dir():
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
