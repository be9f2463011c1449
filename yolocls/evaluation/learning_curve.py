"""`yolocls learning-curve`: "will more images help?" Trains the same settings on growing fractions of each
class's training images (nested subsets, the same val and test images), measures test top-1 and macro-F1, fits
a saturation curve (error = a * n^-b + c, n = images per class) and says in one line what a doubling is worth."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from yolocls.core.errors import ConfigError
from yolocls.core.fs import atomic_path, atomic_write_text
from yolocls.core.progress import write_progress
from yolocls.core.runlayout import CURVE_CSV, CURVE_JSON, CURVE_PLOT
from yolocls.data.manifest import load_manifest
from yolocls.data.subset import DEFAULT_FRACTIONS, subset_counts, write_subset
from yolocls.evaluation.report import ReportOptions, write_report
from yolocls.training.callbacks import log
from yolocls.training.rundir import unique_run_dir

CSV_NAME, PLOT_NAME, JSON_NAME = CURVE_CSV, CURVE_PLOT, CURVE_JSON


class CurveOptions(BaseModel):
    data: Path
    fractions: list[float] = Field(default_factory=lambda: list(DEFAULT_FRACTIONS))
    train: dict = Field(default_factory=dict, description="TrainOptions for every point (preset, epochs, ...)")
    runs_dir: Path = Path("runs")
    name: str | None = None
    seed: int = 0
    quiet: bool = False
    progress_file: Path | None = Field(default=None, description="Where each stage is written (a studio job)")


class CurvePoint(BaseModel):
    fraction: float
    images_per_class: float = Field(description="Mean training images per class")
    train_images: int
    run: str
    test_top1: float
    test_macro_f1: float
    split: str = Field(description="The split the metrics are on (test, or val when the dataset has no test)")
    seconds: float


class Fit(BaseModel):
    a: float
    b: float
    c: float = Field(description="The error the curve levels off at")


class CurveResult(BaseModel):
    folder: Path
    points: list[CurvePoint]
    fit: Fit | None
    gain_per_doubling: float = Field(description="Points of test top-1 the next doubling adds (estimated)")
    verdict: str


def parse_fractions(text: str) -> list[float]:
    """'0.1,0.25,0.5,1' -> sorted fractions in (0, 1]; one clear line for anything else."""
    try:
        values = sorted({float(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise ConfigError(f"--fractions {text!r}: expected comma-separated numbers, e.g. 0.1,0.25,0.5,1") from None
    bad = [v for v in values if not 0 < v <= 1]
    if bad or len(values) < 2:
        raise ConfigError(f"--fractions {text!r}: need at least two fractions, each in (0, 1] (e.g. 0.1,0.25,0.5,1)")
    return values


def fit_curve(n: np.ndarray, error: np.ndarray) -> Fit | None:
    """error(n) = a * n^-b + c by least squares (scipy), or None when it does not converge."""
    from scipy.optimize import curve_fit

    try:
        (a, b, c), _ = curve_fit(lambda x, a, b, c: a * np.power(x, -b) + c, n, error,
                                 p0=(max(error[0], 1e-3) * n[0] ** 0.5, 0.5, max(min(error) / 2, 0.0)),
                                 bounds=([0.0, 0.01, 0.0], [np.inf, 3.0, 1.0]), maxfev=20000)
    except (RuntimeError, ValueError):
        return None
    return Fit(a=float(a), b=float(b), c=float(c))


def doubling_gain(points: list[CurvePoint], fit: Fit | None) -> float:
    """Points of top-1 from doubling the largest size: from the fit, else from the last two points' slope."""
    n = points[-1].images_per_class
    if fit is not None:
        return 100 * fit.a * (n ** -fit.b - (2 * n) ** -fit.b)
    prev, last = points[-2], points[-1]
    doublings = math.log2(last.images_per_class / prev.images_per_class)
    return 100 * (last.test_top1 - prev.test_top1) / doublings if doublings > 0 else 0.0


def verdict(points: list[CurvePoint], fit: Fit | None, gain: float) -> str:
    n, top1 = points[-1].images_per_class, points[-1].test_top1
    doubled = f"doubling to ~{2 * n:.0f} images per class"
    if gain >= 1.0:
        return (f"More data is likely to help: {doubled} should add about {gain:.1f} points of test top-1 "
                f"({top1:.3f} now).")
    if gain >= 0.3:
        return f"More data would help a little: {doubled} adds about {gain:.1f} points of test top-1 ({top1:.3f} now)."
    level = f"; the curve levels off near {1 - fit.c:.3f}" if fit is not None else ""
    return (f"More data is unlikely to help much: {doubled} adds about {gain:.1f} points of test top-1 "
            f"({top1:.3f} now{level}); try a larger model, a longer schedule or cleaner labels.")


def _write_csv(folder: Path, points: list[CurvePoint]) -> None:
    with atomic_path(folder / CSV_NAME) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CurvePoint.model_fields))
        writer.writeheader()
        for p in points:
            writer.writerow(p.model_dump())


def _point(opts: CurveOptions, folder: Path, fraction: float, step: str) -> CurvePoint:
    from yolocls.training.runner import TrainOptions, train

    pct = f"{fraction * 100:g}pct"
    t0 = time.monotonic()
    subset = write_subset(opts.data, subset_dir(folder, pct), fraction, opts.seed)
    counts = subset.counts["train"]
    log(f"learning curve {step}: {fraction:.0%} of the training images ({sum(counts.values())}, "
        f"{np.mean(list(counts.values())):.0f} per class)", opts.quiet)
    run_dir, record = train(TrainOptions.model_validate({**opts.train, "data": subset_dir(folder, pct),
                                                         "runs_dir": folder / "runs", "name": pct, "report": False,
                                                         "quiet": opts.quiet}))
    metrics = write_report(ReportOptions(run_dir=run_dir)).metrics
    return CurvePoint(fraction=fraction, images_per_class=float(np.mean(list(counts.values()))),
                      train_images=sum(counts.values()), run=str(run_dir.relative_to(folder)), test_top1=metrics.top1,
                      test_macro_f1=metrics.macro["f1"], split=metrics.split, seconds=round(time.monotonic() - t0, 1))


def subset_dir(folder: Path, pct: str) -> Path:
    return folder / "data" / pct


def learning_curve(opts: CurveOptions) -> CurveResult:
    """Train every fraction (smallest first), then fit and judge; the CSV is rewritten after every point, so an
    interrupted curve keeps what it measured."""
    manifest = load_manifest(opts.data)
    for fraction in opts.fractions:  # a class too small for a fraction: said before anything trains
        subset_counts(manifest, fraction)
    folder = unique_run_dir(opts.runs_dir.expanduser().resolve(), opts.name or f"{opts.data.name}-curve")
    log(f"learning curve folder: {folder}", opts.quiet)
    points: list[CurvePoint] = []
    for i, fraction in enumerate(opts.fractions, 1):
        if opts.progress_file is not None:
            write_progress(opts.progress_file, {"stage": "training", "point": i, "points": len(opts.fractions),
                                                "fraction": fraction, "folder": folder.name})
        points.append(_point(opts, folder, fraction, f"{i}/{len(opts.fractions)}"))
        _write_csv(folder, points)
    n = np.array([p.images_per_class for p in points])
    fit = fit_curve(n, 1 - np.array([p.test_top1 for p in points]))
    gain = doubling_gain(points, fit)
    result = CurveResult(folder=folder, points=points, fit=fit, gain_per_doubling=round(gain, 2),
                         verdict=verdict(points, fit, gain))
    from yolocls.evaluation.plots import plot_learning_curve

    plot_learning_curve([p.model_dump() for p in points], fit.model_dump() if fit else None, folder / PLOT_NAME)
    atomic_write_text(folder / JSON_NAME, result.model_dump_json(indent=2))
    return result
