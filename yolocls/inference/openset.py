"""Applying an open-set policy: temperature-scaled probabilities and per-class "unknown" thresholds (numpy only).

The policy is fitted on the val split (`yolocls.evaluation.openset`), stored in the export metadata and
applied the same way by `yolocls serve`, the studio and `yolocls predict`.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

EPS = 1e-12


class OpenSetPolicy(BaseModel):
    """When to answer "unknown": calibrated top-1 confidence below the predicted class's threshold."""

    temperature: float = Field(gt=0, description="Divides the log-probabilities before the softmax (fitted on val)")
    target_precision: float = Field(ge=0, le=1, description="Precision each class's answers reach on val")
    known_recall: float = Field(ge=0, le=1, description="Fraction of correct val answers per class kept at least "
                                "at the threshold's own floor (the usual 95 %-of-known operating point)")
    thresholds: dict[str, float] = Field(description="Per class: minimum calibrated confidence to answer it")
    global_threshold: float = Field(description="Used for classes with too few val images (fallback_classes)")
    fallback_classes: list[str] = Field(default_factory=list)
    target_reached: bool = Field(default=True, description="False when even the highest threshold misses the "
                                 "target precision on val for the pooled classes")
    min_support: int = Field(description="Val answers a class needs for its own threshold")

    def threshold_array(self, classes: list[str]) -> np.ndarray:
        return np.array([self.thresholds.get(c, self.global_threshold) for c in classes], dtype=np.float64)


def calibrate(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / T): the model's probabilities with temperature scaling (argmax unchanged)."""
    if temperature == 1.0:
        return probs.astype(np.float32, copy=False)
    logits = np.log(np.clip(probs.astype(np.float64), EPS, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def unknown_mask(calibrated: np.ndarray, policy: OpenSetPolicy, classes: list[str]) -> np.ndarray:
    """True where the top-1 calibrated confidence is below the threshold of the class it would answer."""
    pred = calibrated.argmax(axis=1)
    return calibrated.max(axis=1) < policy.threshold_array(classes)[pred]


def policy_of(metadata: dict) -> OpenSetPolicy | None:
    """The policy embedded by `yolocls export`, or None for models exported without one."""
    raw = metadata.get("openset")
    return OpenSetPolicy.model_validate(raw) if raw else None
