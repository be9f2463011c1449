"""`yolocls report`: evaluate a run's weights on a split and write metrics, tables and pictures to report/."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from tqdm import tqdm

from yolocls.core.errors import ConfigError, YoloclsError
from yolocls.core.fs import publish_dir, staging_dir
from yolocls.core.limits import available_cpus
from yolocls.core.runlayout import (
    CONFUSION_FILE,
    METRICS_FILE,
    OPENSET_FILE,
    PER_CLASS_FILE,
    PREDICTIONS_FILE,
    REPORT_DIR,
    REPORT_HTML,
)
from yolocls.data.layout import choose_split, list_split
from yolocls.evaluation.metrics import compute_metrics, confusion
from yolocls.evaluation.mistakes import draw_mistakes
from yolocls.evaluation.openset import FEW_IMAGES, KNOWN_RECALL, TARGET_PRECISION, OpenSetReport, openset_report
from yolocls.evaluation.plots import plot_confusion, plot_risk_coverage, plot_training_curves
from yolocls.evaluation.report_html import write_html
from yolocls.evaluation.summary import ReportMetrics
from yolocls.inference.predictor import Predictor, predict_paths, top_k
from yolocls.training.rundir import dataset_of_run, read_results, run_weights

if TYPE_CHECKING:
    from yolocls.evaluation.torch_predictor import TorchPredictor



class ReportOptions(BaseModel):
    run_dir: Path
    split: Literal["val", "test"] | None = None
    weights: Literal["best", "last"] = "best"
    data: Path | None = None
    device: str = "auto"
    ood: Path | None = Field(default=None, description="A folder of images of none of the classes: the report "
                             "states the fraction answered `unknown`")
    target_precision: float = Field(default=TARGET_PRECISION, gt=0, le=1)
    known_recall: float = Field(default=KNOWN_RECALL, gt=0, le=1)


@dataclass
class ReportResult:
    report_dir: Path
    metrics: ReportMetrics
    openset: OpenSetReport | None = None


@dataclass(frozen=True)
class Evaluation:
    """A model's probabilities on every image of one split."""

    dataset: Path
    split: str
    classes: list[str]
    paths: list[Path]
    y_true: np.ndarray
    probs: np.ndarray


def _predict(model: Predictor, paths: list[Path], desc: str,
             on_unreadable: Callable[[Path], None] | None = None) -> np.ndarray:
    with tqdm(total=len(paths), desc=desc, unit="img", file=sys.stderr, disable=None) as bar:
        return predict_paths(model, paths, workers=min(8, available_cpus()), on_batch=bar.update,
                             on_unreadable=on_unreadable)


def _evaluate_split(model: Predictor, dataset: Path, split: str) -> Evaluation:
    paths, y_true = list_split(dataset, split, model.classes)
    return Evaluation(dataset, split, model.classes, paths, y_true, _predict(model, paths, f"evaluating {split}"))


def _load(opts: ReportOptions) -> tuple[Path, TorchPredictor, Path]:
    from yolocls.evaluation.torch_predictor import TorchPredictor

    run_dir, weights = run_weights(opts.run_dir, opts.weights, "evaluate")
    return run_dir, TorchPredictor(weights, opts.device), dataset_of_run(run_dir, opts.data)


def _ood_probs(model: Predictor, folder: Path) -> np.ndarray:
    """Probabilities for every readable image under `folder` (others are skipped, with a count on stderr)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    skipped: list[Path] = []
    probs = _predict(model, files, "out-of-distribution images", on_unreadable=skipped.append)
    if not len(probs):
        raise ConfigError(f"--ood {folder}: no readable images in it")
    if skipped:
        print(f"--ood: skipped {len(skipped)} files that are not readable images", file=sys.stderr)
    return probs


def _openset(opts: ReportOptions, model: Predictor, ev: Evaluation) -> OpenSetReport:
    """Fit the open-set policy on val, measure it on the evaluated split (and the --ood folder)."""
    val = ev if ev.split == "val" else _evaluate_split(model, ev.dataset, "val") \
        if (ev.dataset / "val").is_dir() else ev
    ood = _ood_probs(model, opts.ood) if opts.ood is not None else None
    return openset_report((val.probs, val.y_true), (ev.probs, ev.y_true), ev.classes, (val.split, ev.split),
                          opts.target_precision, opts.known_recall, ood)


def _write_tables(out: Path, ev: Evaluation, metrics: ReportMetrics) -> pd.DataFrame:
    """metrics.json, per_class.csv, predictions.csv, confusion_matrix.csv; returns the per-class table."""
    classes, probs, y_true = ev.classes, ev.probs, ev.y_true
    pred, conf = probs.argmax(axis=1), probs.max(axis=1)
    (out / METRICS_FILE).write_text(metrics.model_dump_json(indent=2), encoding="utf-8")
    per_class = pd.DataFrame([{"class": c, **m.model_dump()} for c, m in metrics.per_class.items()],
                             columns=["class", "precision", "recall", "f1", "support", "avg_confidence"])
    per_class.to_csv(out / PER_CLASS_FILE, index=False)
    top5 = top_k(probs, 5)
    pd.DataFrame({
        "path": [p.relative_to(ev.dataset).as_posix() for p in ev.paths],
        "true": [classes[i] for i in y_true], "predicted": [classes[i] for i in pred],
        "confidence": conf.round(6), "correct": pred == y_true,
        "top5": ["|".join(classes[j] for j in row) for row in top5],
        "top5_confidence": ["|".join(f"{probs[i, j]:.6f}" for j in row) for i, row in enumerate(top5)],
    }).to_csv(out / PREDICTIONS_FILE, index=False)
    pd.DataFrame(confusion(y_true, pred, len(classes)), index=pd.Index(classes, name="true\\predicted"),
                 columns=classes).to_csv(out / CONFUSION_FILE)
    return per_class


def _draw_pictures(out: Path, run_dir: Path, ev: Evaluation, model: Predictor, openset: OpenSetReport
                   ) -> list[Path]:
    """Confusion matrices, training curves, risk-coverage, the most confident mistakes; returns the files drawn."""
    classes, y_true = ev.classes, ev.y_true
    pred, conf = ev.probs.argmax(axis=1), ev.probs.max(axis=1)
    matrix = confusion(y_true, pred, len(classes))
    pictures = [out / "confusion_matrix.png", out / "confusion_matrix_normalized.png"]
    plot_confusion(matrix, classes, pictures[0], normalize=False)
    plot_confusion(matrix, classes, pictures[1], normalize=True)
    if plot_training_curves(read_results(run_dir), out / "training_curves.png"):
        pictures.append(out / "training_curves.png")
    if plot_risk_coverage(openset.risk_coverage, openset.operating_point.coverage,
                          openset.operating_point.accuracy, out / "risk_coverage.png"):
        pictures.append(out / "risk_coverage.png")
    wrong = np.flatnonzero(pred != y_true)
    wrong = wrong[np.argsort(-conf[wrong], kind="stable")]
    if draw_mistakes(model, [ev.paths[i] for i in wrong], [int(y_true[i]) for i in wrong], classes,
                     out / "mistakes.png"):
        pictures.append(out / "mistakes.png")
    return pictures


def write_report(opts: ReportOptions) -> ReportResult:
    """Evaluate the run's weights on a split and write RUN_DIR/report/ atomically."""
    if opts.ood is not None and not opts.ood.is_dir():  # before minutes of evaluation, not after
        raise ConfigError(f"--ood {opts.ood}: not a folder of images")
    run_dir, model, dataset = _load(opts)
    ev = _evaluate_split(model, dataset, choose_split(dataset, opts.split))
    metrics = compute_metrics(ev.y_true, ev.probs, ev.classes, ev.split, f"{opts.weights}.pt")
    openset = _openset(opts, model, ev)
    final = run_dir / REPORT_DIR
    with staging_dir(final) as tmp:
        per_class = _write_tables(tmp, ev, metrics)
        (tmp / OPENSET_FILE).write_text(openset.model_dump_json(indent=2), encoding="utf-8")
        pictures = _draw_pictures(tmp, run_dir, ev, model, openset)
        write_html(tmp, run_dir, metrics, per_class.set_index("class"), pictures, openset)
        publish_dir(tmp, final, overwrite=True)
    return ReportResult(report_dir=final, metrics=metrics, openset=openset)


def print_report_summary(result: ReportResult, file: TextIO | None = None) -> None:
    file = file or sys.stdout  # looked up now: a default bound at import goes stale when stdout is replaced
    m = result.metrics
    print(f"{m.split}: {m.images} images  top1 {m.top1:.4f}  top5 {m.top5:.4f}  macro F1 {m.macro['f1']:.4f}  "
          f"avg confidence {m.avg_confidence:.3f}  ECE {m.ece:.3f}", file=file)
    table = pd.DataFrame({c: v.model_dump() for c, v in m.per_class.items()}).T
    table.index.name = "class"
    table["support"] = table["support"].astype(int)
    print(table.to_string(float_format=lambda x: f"{x:.3f}"), file=file)
    if result.openset is not None:
        o = result.openset
        point = o.operating_point
        accuracy = "n/a" if point.accuracy is None else f"{point.accuracy:.4f}"
        print(f"open set (fitted on {o.fitted_on}, target precision {o.policy.target_precision}): temperature "
              f"{o.policy.temperature:.3f}, ECE {o.ece_before:.3f} -> {o.ece_after:.3f}; answers {point.coverage:.1%} "
              f"of {o.evaluated_on} with accuracy {accuracy}"
              + (f"; rejects {o.ood_rejected:.1%} of {o.ood_images} --ood images" if o.ood_rejected is not None
                 else ""), file=file)
        if o.fitted_images < FEW_IMAGES:
            print(f"  note: fitted on only {o.fitted_images} {o.fitted_on} images; temperature and thresholds are "
                  f"noisy below {FEW_IMAGES}", file=file)
    print(f"report: {result.report_dir / REPORT_HTML}", file=file)




def report_after_training(run_dir: Path, log: Callable[[str], None]) -> ReportResult | None:
    """What `yolocls train` and a studio training job do when training ends: the report, or a warning through
    `log` (the run itself stands without it)."""
    try:
        return write_report(ReportOptions(run_dir=run_dir))
    except Exception as exc:
        log(f"warning: report not written: {exc if isinstance(exc, YoloclsError) else f'{type(exc).__name__}: {exc}'}")
        return None
