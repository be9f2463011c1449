"""Fitting and measuring the open-set policy: temperature scaling, per-class thresholds, risk-coverage, OOD.

Fitted on the val split (never on the split it is measured on, unless the dataset has no test split,
which the report then says). Applied by `yolocls.inference.openset`.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field
from scipy.optimize import minimize_scalar

from yolocls.evaluation.metrics import expected_calibration_error
from yolocls.inference.openset import EPS, OpenSetPolicy, calibrate, unknown_mask

TARGET_PRECISION = 0.95
KNOWN_RECALL = 0.95
MIN_SUPPORT = 20
FEW_IMAGES = 200  # below this many val images, calibration and thresholds are noisy: the report says so
# A val split the model gets entirely right keeps lowering the NLL as T -> 0 (not identifiable): T stays within
# what real over/under-confidence needs.
TEMPERATURE_BOUNDS = (0.25, 8.0)


class OperatingPoint(BaseModel):
    coverage: float = Field(description="Fraction of images answered (not `unknown`)")
    accuracy: float | None = Field(description="Accuracy on the answered images (None when none answered)")
    answered: int
    images: int


class OpenSetReport(BaseModel):
    """report/openset.json: the policy and what it does on the evaluated split (and an OOD folder)."""

    fitted_on: str
    fitted_images: int = Field(description="Images the temperature and thresholds were fitted on")
    evaluated_on: str
    policy: OpenSetPolicy
    ece_before: float
    ece_after: float
    operating_point: OperatingPoint
    risk_coverage: list[tuple[float, float]] = Field(description="(coverage, accuracy) of answering the most "
                                                     "confident fraction, at 1 % steps of coverage")
    ood_images: int | None = None
    ood_rejected: float | None = Field(default=None, description="Fraction of the --ood images answered `unknown`")


def fit_temperature(probs: np.ndarray, y_true: np.ndarray) -> float:
    """The T minimising the negative log-likelihood of softmax(log p / T) on these labels."""
    if len(probs) == 0:
        return 1.0
    logp = np.log(np.clip(probs.astype(np.float64), EPS, 1.0))

    def nll(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        return float(-(z[np.arange(len(z)), y_true] - np.log(np.exp(z).sum(axis=1))).mean())

    low, high = TEMPERATURE_BOUNDS
    result = minimize_scalar(nll, bounds=(np.log(low), np.log(high)), method="bounded", options={"xatol": 1e-4})
    if not result.success or abs(result.x - np.log(low)) < 1e-2:
        # at the lower bound the NLL was still falling: val all correct says nothing about the scale
        return 1.0
    return float(np.exp(result.x))


def _threshold(conf: np.ndarray, correct: np.ndarray, target: float, known_recall: float) -> float | None:
    """Lowest threshold whose accepted answers reach `target` precision, raised so that it keeps no more than
    `known_recall` of the correct answers; None when no threshold reaches the target."""
    order = np.argsort(conf, kind="stable")
    conf, correct = conf[order], correct[order]
    # precision of the answers at or above conf[i], for every i (suffix sums)
    hits = np.cumsum(correct[::-1])[::-1]
    counts = np.arange(len(conf), 0, -1)
    reach = np.flatnonzero(hits / counts >= target)
    if reach.size == 0:
        return None
    threshold = float(conf[reach[0]])
    right = conf[correct]
    if right.size:
        floor = float(right[int(np.floor((1.0 - known_recall) * right.size))]) if known_recall < 1 else float(right[0])
        threshold = max(threshold, floor)
    return threshold


SATURATED = 1.0 - 1e-6  # a threshold this close to 1 cannot tell confident answers apart any more


def fit_policy(probs: np.ndarray, y_true: np.ndarray, classes: list[str], target_precision: float = TARGET_PRECISION,
               known_recall: float = KNOWN_RECALL, min_support: int = MIN_SUPPORT) -> OpenSetPolicy:
    """Temperature, then per-class thresholds on the calibrated confidence (global one for small classes).
    Never worse than one threshold on the plain confidence: when the fitted temperature saturates the
    confidences (thresholds at 1.0 that the plain probabilities did not need), the temperature is dropped."""
    temperature = fit_temperature(probs, y_true)
    policy = _fit_thresholds(probs, y_true, classes, temperature, target_precision, known_recall, min_support)
    if temperature != 1.0 and max(policy.thresholds.values(), default=0.0) >= SATURATED:
        plain = _fit_thresholds(probs, y_true, classes, 1.0, target_precision, known_recall, min_support)
        if max(plain.thresholds.values(), default=0.0) < SATURATED:
            return plain
    return policy


def _fit_thresholds(probs: np.ndarray, y_true: np.ndarray, classes: list[str], temperature: float,
                    target_precision: float, known_recall: float, min_support: int) -> OpenSetPolicy:
    cal = calibrate(probs, temperature)
    pred, conf = cal.argmax(axis=1), cal.max(axis=1)
    correct = pred == y_true
    pooled = _threshold(conf, correct, target_precision, known_recall)
    global_threshold = pooled if pooled is not None else float(conf.max(initial=0.0))
    thresholds, fallback = {}, []
    for i, name in enumerate(classes):
        mine = pred == i
        own = _threshold(conf[mine], correct[mine], target_precision, known_recall) if mine.sum() >= min_support \
            else None
        if own is None:
            fallback.append(name)
        thresholds[name] = round(own if own is not None else global_threshold, 6)
    return OpenSetPolicy(temperature=round(temperature, 6), target_precision=target_precision,
                         known_recall=known_recall, thresholds=thresholds, global_threshold=round(global_threshold, 6),
                         fallback_classes=fallback, target_reached=pooled is not None, min_support=min_support)


def risk_coverage(conf: np.ndarray, correct: np.ndarray, steps: int = 100) -> list[tuple[float, float]]:
    """(coverage, accuracy of the most confident `coverage` fraction), coverage from 1/steps to 1."""
    if len(conf) == 0:
        return []
    ranked = correct[np.argsort(-conf, kind="stable")].astype(np.float64)
    running = np.cumsum(ranked) / np.arange(1, len(ranked) + 1)
    points = []
    for step in range(1, steps + 1):
        n = max(1, int(round(step / steps * len(ranked))))
        points.append((round(n / len(ranked), 4), round(float(running[n - 1]), 4)))
    return points


def operating_point(calibrated: np.ndarray, y_true: np.ndarray, policy: OpenSetPolicy, classes: list[str]
                    ) -> OperatingPoint:
    """Coverage and accuracy of the answers the policy gives (`calibrated`: temperature-scaled probabilities)."""
    answered = ~unknown_mask(calibrated, policy, classes)
    correct = calibrated.argmax(axis=1) == y_true
    n = int(answered.sum())
    return OperatingPoint(coverage=n / len(calibrated) if len(calibrated) else 0.0,
                          accuracy=float(correct[answered].mean()) if n else None, answered=n,
                          images=len(calibrated))


def rejected_fraction(probs: np.ndarray, policy: OpenSetPolicy, classes: list[str]) -> float:
    return float(unknown_mask(calibrate(probs, policy.temperature), policy, classes).mean()) if len(probs) else 0.0


def openset_report(val: tuple[np.ndarray, np.ndarray], evaluated: tuple[np.ndarray, np.ndarray], classes: list[str],
                   splits: tuple[str, str], target_precision: float = TARGET_PRECISION,
                   known_recall: float = KNOWN_RECALL, ood_probs: np.ndarray | None = None) -> OpenSetReport:
    """Fit on `val` (probs, labels), measure on `evaluated`; `splits` names them."""
    policy = fit_policy(*val, classes, target_precision, known_recall)
    probs, y_true = evaluated
    cal = calibrate(probs, policy.temperature)
    correct = probs.argmax(axis=1) == y_true
    return OpenSetReport(
        fitted_on=splits[0], fitted_images=len(val[1]), evaluated_on=splits[1], policy=policy,
        ece_before=expected_calibration_error(probs.max(axis=1), correct),
        ece_after=expected_calibration_error(cal.max(axis=1), correct),
        operating_point=operating_point(cal, y_true, policy, classes),
        risk_coverage=risk_coverage(cal.max(axis=1), correct),
        ood_images=None if ood_probs is None else len(ood_probs),
        ood_rejected=None if ood_probs is None else rejected_fraction(ood_probs, policy, classes))
