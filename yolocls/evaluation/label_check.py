"""`yolocls check-labels`: which labels of a dataset are probably wrong. Out-of-sample class probabilities for
every labelled image (k-fold cross-validation: k models, each trained on the other folds and predicting its own
fold), ranked with confident learning (cleanlab's `find_label_issues` and `get_label_quality_scores`). Writes
label_issues.csv (every image, most suspect first: given label, suggested label, score), out_of_sample.npz and
gallery.html (the suspects with their thumbnails, one self-contained page)."""

from __future__ import annotations

import base64
import csv
import html
import io
import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from yolocls.core.errors import DatasetError
from yolocls.core.fs import atomic_path, atomic_write_text
from yolocls.data.manifest import load_manifest
from yolocls.data.subset import write_assigned
from yolocls.inference.predictor import predict_paths
from yolocls.training.callbacks import log
from yolocls.training.rundir import unique_run_dir, weights_path

ISSUES_CSV, GALLERY, PROBS = "label_issues.csv", "gallery.html", "out_of_sample.npz"
GALLERY_MAX = 200


class CheckOptions(BaseModel):
    data: Path
    folds: int = Field(default=5, ge=2, le=20)
    train: dict = Field(default_factory=dict, description="TrainOptions of every fold's model")
    runs_dir: Path = Path("runs")
    name: str | None = None
    seed: int = 0
    quiet: bool = False
    cpus_per_fold: int = Field(default=0, ge=0, description="Inside a Ray job (the studio's): each fold is a Ray "
                               "task reserving this many CPUs (and `gpus_per_fold` GPUs), so folds train in "
                               "parallel where the cluster has room; 0: one after another in this process")
    gpus_per_fold: float = Field(default=0.0, ge=0)


class Suspect(BaseModel):
    path: str = Field(description="Relative to the dataset")
    given: str
    suggested: str = Field(description="The class the out-of-sample model found most likely")
    score: float = Field(description="Label quality (cleanlab, self-confidence): low = probably wrong")
    issue: bool = Field(description="Flagged by cleanlab's find_label_issues")


class CheckResult(BaseModel):
    folder: Path
    images: int
    issues: int
    ranked: list[Suspect] = Field(description="Every image, most suspect first")
    seconds: float


def _folds(y: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(train, val, held-out) indices per fold: stratified; the val slice (10 %) picks each fold model's best epoch."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    out = []
    for rest, held in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        classes = len(np.unique(y[rest]))  # a stratified val slice holds one image of each class at least
        size = max(classes, round(0.1 * len(rest)))
        train, val = train_test_split(rest, test_size=size, stratify=y[rest], random_state=seed)
        out.append((train, val, held))
    return out


def _fold(opts: CheckOptions, folder: Path, paths: list[str], f: int, tr: np.ndarray, va: np.ndarray,
          held: np.ndarray) -> np.ndarray:
    """Fold `f`: a model trained on `tr` (best epoch picked on `va`) predicting `held`: their probabilities."""
    import os

    from yolocls.core.limits import CPU_THREADS_ENV
    from yolocls.evaluation.torch_predictor import TorchPredictor
    from yolocls.training.runner import TrainOptions, train

    if opts.cpus_per_fold:  # a Ray task: train with the CPUs it reserved
        os.environ[CPU_THREADS_ENV] = str(opts.cpus_per_fold)
    log(f"fold {f}/{opts.folds}: training on {len(tr)} images, predicting {len(held)}", opts.quiet)
    assignment = {paths[i]: "train" for i in tr} | {paths[i]: "val" for i in va}
    fold_data = folder / "data" / f"fold{f}"
    write_assigned(opts.data, fold_data, assignment, f"fold {f} of {opts.folds} of {opts.data.name}")
    run_dir, _ = train(TrainOptions.model_validate({**opts.train, "data": fold_data, "runs_dir": folder / "runs",
                                                    "name": f"fold{f}", "report": False, "quiet": opts.quiet}))
    model = TorchPredictor(weights_path(run_dir, "best"), opts.train.get("device") or "auto")
    return predict_paths(model, [opts.data / paths[i] for i in held])


def _fold_probs(opts: CheckOptions, folder: Path, paths: list[str], y: np.ndarray, k: int) -> np.ndarray:
    """Every image's out-of-sample probabilities: the folds one after another, or as parallel Ray tasks."""
    probs = np.zeros((len(paths), k), np.float32)
    folds = list(enumerate(_folds(y, opts.folds, opts.seed), 1))
    if opts.cpus_per_fold:
        import ray

        remote = ray.remote(num_cpus=opts.cpus_per_fold, num_gpus=opts.gpus_per_fold)(_fold)
        waiting = [remote.remote(opts, folder, paths, f, tr, va, held) for f, (tr, va, held) in folds]
        for (_, (_, _, held)), fold_probs in zip(folds, ray.get(waiting)):
            probs[held] = fold_probs
        return probs
    for f, (tr, va, held) in folds:
        probs[held] = _fold(opts, folder, paths, f, tr, va, held)
    return probs


def check_labels(opts: CheckOptions) -> CheckResult:
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    manifest = load_manifest(opts.data)
    classes = manifest.classes
    paths = [f.path for f in manifest.files]
    y = np.array([classes.index(Path(p).parts[1]) for p in paths])
    counts = np.bincount(y, minlength=len(classes))
    small = [f"'{classes[i]}' ({n})" for i, n in enumerate(counts) if n < opts.folds]
    if small:
        raise DatasetError(f"{opts.folds}-fold cross-validation needs at least {opts.folds} images of every class; "
                           f"{', '.join(small)} have fewer: add images, or use --folds {max(2, int(counts.min()))}")
    folder = unique_run_dir(opts.runs_dir.expanduser().resolve(), opts.name or f"{opts.data.name}-labels")
    log(f"label check folder: {folder}", opts.quiet)
    t0 = time.monotonic()
    probs = _fold_probs(opts, folder, paths, y, len(classes))
    scores = get_label_quality_scores(labels=y, pred_probs=probs)
    flagged = set(find_label_issues(labels=y, pred_probs=probs).nonzero()[0].tolist())
    order = np.argsort(scores, kind="stable")
    ranked = [Suspect(path=paths[i], given=classes[y[i]], suggested=classes[int(probs[i].argmax())],
                      score=round(float(scores[i]), 6), issue=int(i) in flagged) for i in order]
    result = CheckResult(folder=folder, images=len(paths), issues=len(flagged), ranked=ranked,
                         seconds=round(time.monotonic() - t0, 1))
    _write(opts.data, folder, result, probs, y, classes)
    return result


def _thumb(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as im:
        im.thumbnail((96, 96))
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=80)
    return base64.b64encode(buf.getvalue()).decode()


def _write(data: Path, folder: Path, result: CheckResult, probs: np.ndarray, y: np.ndarray, classes: list[str]) -> None:
    with atomic_path(folder / ISSUES_CSV) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "path", "given", "suggested", "score", "issue"])
        for rank, s in enumerate(result.ranked, 1):
            writer.writerow([rank, s.path, s.given, s.suggested, s.score, s.issue])
    with atomic_path(folder / PROBS) as tmp, tmp.open("wb") as fh:
        np.savez_compressed(fh, probs=probs, labels=y, classes=np.array(classes))
    cards = [f'<figure><img src="data:image/jpeg;base64,{_thumb(data / s.path)}" alt="{html.escape(s.path)}">'
             f"<figcaption>{html.escape(s.path)}<br>given <b>{html.escape(s.given)}</b>, suggested "
             f"<b>{html.escape(s.suggested)}</b><br>score {s.score:.3f}</figcaption></figure>"
             for s in [s for s in result.ranked if s.issue][:GALLERY_MAX]]
    title = f"Suspected label errors in {html.escape(data.name)}"
    style = ("body{font-family:sans-serif;margin:1rem}figure{display:inline-block;width:11rem;margin:.4rem;"
             "vertical-align:top;font-size:.8rem}img{width:96px;height:96px;object-fit:contain}")
    page = (f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{title}</title><style>{style}</style>"
            f"<h1>{title}</h1><p>{result.issues} of {result.images} images flagged (cleanlab; {len(cards)} shown, "
            f"most suspect first); every image is ranked in {ISSUES_CSV}.</p>" + "".join(cards) + "</html>")
    atomic_write_text(folder / GALLERY, page)
