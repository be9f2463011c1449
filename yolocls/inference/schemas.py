"""HTTP/CLI prediction schemas (field names follow hosted classification APIs) and their construction."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from yolocls.inference.predictor import top_k


class ClassScore(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    class_name: str = Field(alias="class")
    class_id: int
    confidence: float


class Prediction(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    filename: str
    class_name: str = Field(alias="class", description="Most probable class")
    class_id: int
    confidence: float = Field(description="Probability of the most probable class (0-1)")
    top: list[ClassScore] = Field(description="The top_k classes, most probable first")
    heatmap: str | None = Field(default=None, description="With ?explain=true: PNG (base64) of the most probable "
                                "class's activation map over the image, at the image's size")


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


class Detail(BaseModel):
    detail: str


def to_predictions(probs: np.ndarray, filenames: list[str], classes: list[str], k: int) -> list[Prediction]:
    out = []
    for name, row, order in zip(filenames, probs, top_k(probs, k)):
        top = [ClassScore(class_name=classes[j], class_id=j, confidence=float(row[j])) for j in order]
        out.append(Prediction(filename=name, class_name=top[0].class_name, class_id=top[0].class_id,
                              confidence=top[0].confidence, top=top))
    return out
