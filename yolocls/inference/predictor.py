"""The small predictor interface every inference path uses (report, export parity, server, CLI predict)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from yolocls.core.errors import YoloclsError
from yolocls.inference.openset import OpenSetPolicy
from yolocls.inference.preprocess import load_image, preprocess


class Predictor(Protocol):
    """Anything that maps a (N, 3, imgsz, imgsz) float32 batch to (N, num_classes) probabilities."""

    classes: list[str]
    imgsz: int

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Explainer(Predictor, Protocol):
    """A predictor that also gives class activation maps (the report's and the server's heatmaps)."""

    def predict_cam(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (N, classes), class activation maps (N, classes, h, w))."""
        ...


@runtime_checkable
class ServedModel(Predictor, Protocol):
    """What a server needs of a model beyond predictions: its name and file hash (answers name them), its
    export metadata and open-set policy, and whether it can explain (`predict_cam`)."""

    name: str
    sha256: str
    metadata: dict[str, Any]
    openset: OpenSetPolicy | None
    explains: bool

    def predict_cam(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def top_k(probs: np.ndarray, k: int) -> list[list[int]]:
    """Indices of the k most probable classes per row, most probable first (ties: lower index)."""
    k = max(1, min(k, probs.shape[1]))
    order = np.argsort(-probs, axis=1, kind="stable")
    return order[:, :k].tolist()


def predict_paths(model: Predictor, paths: Sequence[Path], batch_size: int = 64, workers: int = 4,
                  on_batch: Callable[[int], None] | None = None,
                  on_unreadable: Callable[[Path], None] | None = None) -> np.ndarray:
    """Probabilities for image files, preprocessed with the shared function on a thread pool. A file that is not
    a readable image raises, unless `on_unreadable` is given: it is then told the path, and the file has no row."""
    out: list[np.ndarray] = []

    def prep(p: Path) -> np.ndarray | None:
        try:
            return preprocess(load_image(p), model.imgsz)
        except (YoloclsError, OSError):
            if on_unreadable is None:
                raise
            on_unreadable(p)
            return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(paths), batch_size):
            done = list(pool.map(prep, paths[start:start + batch_size]))
            chunk = [x for x in done if x is not None]
            if chunk:
                out.append(model.predict(np.stack(chunk)))
            if on_batch:
                on_batch(len(done))
    if not out:
        return np.zeros((0, len(model.classes)), np.float32)
    return np.concatenate(out)
