"""Classification metrics from labels and probabilities (pure functions; scikit-learn does the counting)."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import confusion_matrix, log_loss, precision_recall_fscore_support, roc_auc_score

from yolocls.evaluation.summary import ClassMetrics, ReportMetrics
from yolocls.inference.predictor import top_k


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float | None:
    """Macro one-vs-rest ROC-AUC; for two classes the AUC of class 1 (scikit-learn wants that column alone).
    None when some class has no images (AUC is undefined)."""
    n_classes = probs.shape[1]
    if len(np.unique(y_true)) < n_classes:
        return None
    try:
        if n_classes == 2:
            value = float(roc_auc_score(y_true, probs[:, 1]))
        else:
            value = float(roc_auc_score(y_true, probs, multi_class="ovr", labels=np.arange(n_classes)))
    except ValueError:
        return None
    return None if math.isnan(value) else value


def _mean(x: np.ndarray) -> float | None:
    return float(x.mean()) if x.size else None


def compute_metrics(y_true: np.ndarray, probs: np.ndarray, classes: list[str], split: str, weights: str
                    ) -> ReportMetrics:
    n_classes = len(classes)
    labels = np.arange(n_classes)
    pred = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    correct = pred == y_true
    top5 = float((np.array(top_k(probs, 5)) == y_true[:, None]).any(axis=1).mean())  # top_k clamps to n_classes
    p, r, f, s = precision_recall_fscore_support(y_true, pred, labels=labels, zero_division=0)
    agg = {avg: precision_recall_fscore_support(y_true, pred, labels=labels, average=avg, zero_division=0)[:3]
           for avg in ("macro", "weighted")}
    clipped = np.clip(probs, 1e-12, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    auc = roc_auc(y_true, clipped)
    per_class = {
        name: ClassMetrics(precision=float(p[i]), recall=float(r[i]), f1=float(f[i]), support=int(s[i]),
                           avg_confidence=_mean(conf[y_true == i]) or 0.0)
        for i, name in enumerate(classes)
    }
    return ReportMetrics(
        split=split, weights=weights, images=int(len(y_true)), top1=float(correct.mean()), top5=top5,
        macro=dict(zip(("precision", "recall", "f1"), map(float, agg["macro"]))),
        weighted=dict(zip(("precision", "recall", "f1"), map(float, agg["weighted"]))),
        avg_confidence=float(conf.mean()), avg_confidence_correct=_mean(conf[correct]),
        avg_confidence_wrong=_mean(conf[~correct]), ece=expected_calibration_error(conf, correct),
        roc_auc_ovr=auc, log_loss=float(log_loss(y_true, clipped, labels=labels)), per_class=per_class)


def confusion(y_true: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows = TRUE class, columns = PREDICTED class (scikit-learn's convention; Ultralytics stores the transpose)."""
    return confusion_matrix(y_true, pred, labels=np.arange(n_classes))
