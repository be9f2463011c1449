"""What a live dashboard needs, every epoch, for every run (CLI and studio): `epochs.jsonl` and `preview.json`.

Ultralytics' classification validation reports only top-1/top-5. The validator's own per-batch
probabilities are kept by `training.trainer.RecordingValidator` (no extra pass over the data) to add macro
precision/recall/F1 and average confidence; the evaluation preview runs the validated (EMA) model on a fixed
sample of up to 32 val images.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from yolocls.core.fs import atomic_write_text
from yolocls.data.layout import list_split
from yolocls.inference.preprocess import load_image, preprocess
from yolocls.training.rundir import EPOCHS_LOG, PREVIEW_FILE, EpochMetrics, Preview, PreviewEpoch, PreviewImage

PREVIEW_SIZE = 32


def choose_preview(dataset: Path, classes: list[str], seed: str, size: int = PREVIEW_SIZE) -> list[PreviewImage]:
    """Up to `size` val images covering every class (round robin over shuffled classes), fixed per run."""
    paths, labels = list_split(dataset, "val", classes)
    rng = random.Random(seed)
    per_class: list[list[Path]] = []
    for idx in range(len(classes)):
        members = [p for p, y in zip(paths, labels) if y == idx]
        rng.shuffle(members)
        per_class.append(members)
    chosen: list[PreviewImage] = []
    while len(chosen) < size and any(per_class):
        for idx, members in enumerate(per_class):
            if members and len(chosen) < size:
                chosen.append(PreviewImage(path=members.pop().relative_to(dataset).as_posix(), true=classes[idx]))
    return chosen


def _macro(y_true: np.ndarray, pred: np.ndarray, n_classes: int) -> tuple[float, float, float]:
    """Macro precision, recall and F1 (scikit-learn's definitions, zero_division=0) from a confusion matrix:
    numpy only, so recording them costs microseconds per epoch."""
    matrix = np.bincount(y_true * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp = np.diag(matrix).astype(np.float64)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(precision.mean()), float(recall.mean()), float(f1.mean())


def _scalar(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class EpochRecorder:
    """Ultralytics callbacks: `attach` (on_pretrain_routine_end), `epoch_started` (on_train_epoch_start);
    the run's progress handler calls `record(trainer, epoch, train_loss)` after each real epoch."""

    def __init__(self, run_dir: Path, dataset: Path, classes: list[str]) -> None:
        self.run_dir, self.dataset, self.classes = run_dir, dataset, classes
        self.started = time.monotonic()
        self.preview: Preview | None = None
        self._batch: Any = None

    def attach(self, trainer: Any) -> None:
        """on_pretrain_routine_end: the evaluation preview's images, once the image size is final."""
        self._start_preview(int(trainer.args.imgsz))

    def epoch_started(self, trainer: Any) -> None:
        self.started = time.monotonic()

    def record(self, trainer: Any, epoch: int, train_loss: float) -> EpochMetrics:
        metrics = {k: float(v) for k, v in (trainer.metrics or {}).items() if isinstance(v, (int, float))}
        probs, y_true = trainer.validator.recorded(len(self.classes))  # a training.trainer.RecordingValidator
        if len(probs) and not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):  # logits: softmax them
            e = np.exp(probs - probs.max(axis=1, keepdims=True))
            probs = e / e.sum(axis=1, keepdims=True)
        precision, recall, f1 = _macro(y_true, probs.argmax(axis=1), len(self.classes)) if len(probs) else (0, 0, 0)
        lr = (getattr(trainer, "lr", None) or {}).get("lr/pg0")
        row = EpochMetrics(
            epoch=epoch, train_loss=train_loss, val_loss=metrics.get("val/loss"),
            top1=metrics.get("metrics/accuracy_top1"), top5=metrics.get("metrics/accuracy_top5"),
            precision=precision, recall=recall, f1=f1,
            avg_confidence=float(probs.max(axis=1).mean()) if len(probs) else None, lr=_scalar(lr),
            seconds=round(time.monotonic() - self.started, 3), images=int(len(probs)))
        self._record_preview(trainer, epoch)  # first: an epoch in epochs.jsonl always has its preview
        with (self.run_dir / EPOCHS_LOG).open("a", encoding="utf-8") as fh:
            fh.write(row.model_dump_json() + "\n")
        return row

    # ---------- the evaluation preview ----------

    def _start_preview(self, imgsz: int) -> None:
        path = self.run_dir / PREVIEW_FILE
        if path.is_file():  # a resumed run keeps the images chosen when it started
            self.preview = Preview.model_validate_json(path.read_text(encoding="utf-8"))
        else:
            images = choose_preview(self.dataset, self.classes, seed=self.run_dir.name)
            self.preview = Preview(images=images, epochs=[])
        self._batch = np.stack([preprocess(load_image(self.dataset / im.path), imgsz) for im in self.preview.images])

    def _record_preview(self, trainer: Any, epoch: int) -> None:
        import torch

        if self.preview is None or self._batch is None or not len(self._batch):
            return
        model = trainer.ema.ema if getattr(trainer, "ema", None) is not None else trainer.model
        param = next(model.parameters())
        with torch.inference_mode():
            out = model(torch.from_numpy(self._batch).to(param.device, param.dtype))
        probs = (out[0] if isinstance(out, (list, tuple)) else out).float().cpu().numpy()
        self.preview.epochs = [e for e in self.preview.epochs if e.epoch != epoch]
        self.preview.epochs.append(PreviewEpoch(epoch=epoch, pred=[self.classes[i] for i in probs.argmax(axis=1)],
                                                confidence=[round(float(c), 6) for c in probs.max(axis=1)]))
        atomic_write_text(self.run_dir / PREVIEW_FILE, self.preview.model_dump_json())
