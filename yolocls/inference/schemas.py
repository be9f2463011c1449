"""HTTP/CLI prediction schemas (field names follow hosted classification APIs) and their construction."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from yolocls.inference.openset import OpenSetPolicy, calibrate, unknown_mask
from yolocls.inference.predictor import top_k


class ClassScore(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    class_name: str = Field(alias="class")
    class_id: int
    confidence: float


class Prediction(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    filename: str
    class_name: str | None = Field(alias="class", description="Most probable class; null when the model abstains "
                                   "(`unknown`)")
    class_id: int | None
    confidence: float = Field(description="Probability of the most probable class (0-1), as the model outputs it")
    calibrated_confidence: float | None = Field(
        default=None, exclude_if=lambda v: v is None,
        description="With the model's open-set policy: the top-1 probability after temperature scaling, the value "
                    "compared with the class's threshold")
    unknown: bool = Field(default=False, description="True when the confidence is below the most probable "
                          "class's threshold (the model's open-set policy): `class` is then null, `top` still lists "
                          "the classes")
    top: list[ClassScore] = Field(description="The top_k classes, most probable first")
    heatmap: str | None = Field(default=None, exclude_if=lambda v: v is None,
                                description="With ?explain=true: PNG (base64) of the most probable class's activation "
                                "map over the image, at the image's size")


class ModelRef(BaseModel):
    name: str
    sha256: str


class PredictResponse(BaseModel):
    predictions: list[Prediction] = Field(description="One entry per uploaded file, in order")
    model: ModelRef
    time_ms: float = Field(description="Server-side time for the whole request")


class ModelInfo(BaseModel):
    name: str
    format: str
    sha256: str
    classes: list[str]
    imgsz: int
    source_run: str | None = None
    preprocessing: dict[str, str] | None = None
    openset: OpenSetPolicy | None = Field(default=None, description="Temperature and per-class thresholds used to "
                                          "answer `unknown` (null: the model always answers a class)")


class Detail(BaseModel):
    detail: str


def to_predictions(probs: np.ndarray, filenames: list[str], classes: list[str], k: int,
                   policy: OpenSetPolicy | None = None) -> list[Prediction]:
    """One Prediction per row; with a policy, `unknown` where the calibrated top-1 confidence is below its class's
    threshold (`class` null; `confidence` and `top` stay the model's own probabilities)."""
    if policy is not None:
        scaled = calibrate(probs, policy.temperature)
        calibrated: list[float | None] = [float(c) for c in scaled.max(axis=1)]
        unknown = unknown_mask(scaled, policy, classes)
    else:
        calibrated, unknown = [None] * len(probs), np.zeros(len(probs), dtype=bool)
    out = []
    for name, row, order, abstain, cal in zip(filenames, probs, top_k(probs, k), unknown, calibrated):
        top = [ClassScore(class_name=classes[j], class_id=j, confidence=float(row[j])) for j in order]
        out.append(Prediction(filename=name, class_name=None if abstain else top[0].class_name,
                              class_id=None if abstain else top[0].class_id, confidence=top[0].confidence,
                              calibrated_confidence=cal,
                              unknown=bool(abstain), top=top))
    return out
