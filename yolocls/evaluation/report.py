"""`yolocls report`: evaluate a run's weights on a split and write metrics, tables and pictures to report/."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

import numpy as np
import pandas as pd
from pydantic import BaseModel
from tqdm import tqdm

from yolocls.core.fs import publish_dir, staging_dir
from yolocls.core.limits import available_cpus
from yolocls.data.layout import choose_split, list_split
from yolocls.evaluation.metrics import compute_metrics, confusion
from yolocls.evaluation.plots import plot_confusion, plot_mistakes, plot_training_curves
from yolocls.evaluation.report_html import write_html
from yolocls.evaluation.summary import METRICS_FILE, REPORT_DIR, ReportMetrics
from yolocls.inference.predictor import predict_paths, top_k
from yolocls.training.rundir import dataset_of_run, read_results, run_weights

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


@dataclass(frozen=True)
class Evaluation:
    """A model's probabilities on every image of one split."""

    dataset: Path
    split: str
    classes: list[str]
    paths: list[Path]
    y_true: np.ndarray
    probs: np.ndarray


def evaluate(opts: ReportOptions) -> tuple[Path, Evaluation]:
    """(run folder, the run's weights evaluated on the chosen split) with the shared preprocessing."""
    from yolocls.evaluation.torch_predictor import TorchPredictor

    run_dir, weights = run_weights(opts.run_dir, opts.weights, "evaluate")
    dataset = dataset_of_run(run_dir, opts.data)
    split = choose_split(dataset, opts.split)
    model = TorchPredictor(weights, opts.device)
    paths, y_true = list_split(dataset, split, model.classes)
    with tqdm(total=len(paths), desc=f"evaluating {split}", unit="img", file=sys.stderr, disable=None) as bar:
        probs = predict_paths(model, paths, workers=min(8, available_cpus()), on_batch=bar.update)
    return run_dir, Evaluation(dataset, split, model.classes, paths, y_true, probs)


def _write_tables(out: Path, ev: Evaluation, metrics: ReportMetrics) -> pd.DataFrame:
    """metrics.json, per_class.csv, predictions.csv, confusion_matrix.csv; returns the per-class table."""
    classes, probs, y_true = ev.classes, ev.probs, ev.y_true
    pred, conf = probs.argmax(axis=1), probs.max(axis=1)
    (out / METRICS_FILE).write_text(metrics.model_dump_json(indent=2), encoding="utf-8")
    per_class = pd.DataFrame([{"class": c, **m.model_dump()} for c, m in metrics.per_class.items()],
                             columns=["class", "precision", "recall", "f1", "support", "avg_confidence"])
    per_class.to_csv(out / "per_class.csv", index=False)
    top5 = top_k(probs, 5)
    pd.DataFrame({
        "path": [p.relative_to(ev.dataset).as_posix() for p in ev.paths],
        "true": [classes[i] for i in y_true], "predicted": [classes[i] for i in pred],
        "confidence": conf.round(6), "correct": pred == y_true,
        "top5": ["|".join(classes[j] for j in row) for row in top5],
        "top5_confidence": ["|".join(f"{probs[i, j]:.6f}" for j in row) for i, row in enumerate(top5)],
    }).to_csv(out / "predictions.csv", index=False)
    pd.DataFrame(confusion(y_true, pred, len(classes)), index=pd.Index(classes, name="true\\predicted"),
                 columns=classes).to_csv(out / "confusion_matrix.csv")
    return per_class


def _draw_pictures(out: Path, run_dir: Path, ev: Evaluation) -> list[Path]:
    """Confusion matrices, training curves, the most confident mistakes; returns the files drawn."""
    import cv2

    classes, y_true = ev.classes, ev.y_true
    pred, conf = ev.probs.argmax(axis=1), ev.probs.max(axis=1)
    matrix = confusion(y_true, pred, len(classes))
    pictures = [out / "confusion_matrix.png", out / "confusion_matrix_normalized.png"]
    plot_confusion(matrix, classes, pictures[0], normalize=False)
    plot_confusion(matrix, classes, pictures[1], normalize=True)
    if plot_training_curves(read_results(run_dir), out / "training_curves.png"):
        pictures.append(out / "training_curves.png")
    wrong = np.flatnonzero(pred != y_true)
    wrong = wrong[np.argsort(-conf[wrong], kind="stable")][:MAX_MISTAKES]
    shown = [(i, cv2.imread(str(ev.paths[i]), cv2.IMREAD_COLOR)) for i in wrong]
    imgs = [cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) for _, bgr in shown if bgr is not None]
    titles = [f"true: {classes[y_true[i]]}\npred: {classes[pred[i]]} ({conf[i]:.2f})"
              for i, bgr in shown if bgr is not None]
    if plot_mistakes(imgs, titles, out / "mistakes.png"):
        pictures.append(out / "mistakes.png")
    return pictures


def write_report(opts: ReportOptions) -> ReportResult:
    """Evaluate the run's weights on a split and write RUN_DIR/report/ atomically."""
    run_dir, ev = evaluate(opts)
    metrics = compute_metrics(ev.y_true, ev.probs, ev.classes, ev.split, f"{opts.weights}.pt")
    final = run_dir / REPORT_DIR
    with staging_dir(final) as tmp:
        per_class = _write_tables(tmp, ev, metrics)
        pictures = _draw_pictures(tmp, run_dir, ev)
        write_html(tmp, run_dir, metrics, per_class.set_index("class"), pictures)
        publish_dir(tmp, final, overwrite=True)
    return ReportResult(report_dir=final, metrics=metrics)


def print_report_summary(result: ReportResult, file: TextIO | None = None) -> None:
    file = file or sys.stdout  # looked up now: a default bound at import goes stale when stdout is replaced
    m = result.metrics
    print(f"{m.split}: {m.images} images  top1 {m.top1:.4f}  top5 {m.top5:.4f}  macro F1 {m.macro['f1']:.4f}  "
          f"avg confidence {m.avg_confidence:.3f}  ECE {m.ece:.3f}", file=file)
    table = pd.DataFrame({c: v.model_dump() for c, v in m.per_class.items()}).T
    table.index.name = "class"
    table["support"] = table["support"].astype(int)
    print(table.to_string(float_format=lambda x: f"{x:.3f}"), file=file)
    print(f"report: {result.report_dir / 'report.html'}", file=file)


