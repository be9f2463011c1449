"""The report's gallery of the most confident mistakes, with the heatmaps of the predicted and the true class
when the model's activation map is fine enough to be faithful (imgsz >= 224)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from yolocls.evaluation.plots import plot_mistakes
from yolocls.inference.heatmap import heatmaps_at, overlay_png
from yolocls.inference.predictor import Explainer, Predictor
from yolocls.inference.preprocess import load_image, preprocess

MAX_MISTAKES = 16
MAX_EXPLAINED = 8


def _rgb(png_or_bgr: bytes | np.ndarray) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(png_or_bgr, np.uint8), cv2.IMREAD_COLOR) if isinstance(png_or_bgr, bytes) \
        else png_or_bgr
    assert bgr is not None  # our own PNG
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _explained(model: Explainer, bgr: np.ndarray, true: int, classes: list[str]) -> tuple[list[np.ndarray], list[str]]:
    """[image, heatmap of the predicted class, heatmap of the true class] with their titles."""
    probs, cams = model.predict_cam(preprocess(bgr, model.imgsz)[None])
    pred = int(probs[0].argmax())
    return ([_rgb(bgr), _rgb(overlay_png(bgr, cams[0, pred], model.imgsz)),
             _rgb(overlay_png(bgr, cams[0, true], model.imgsz))],
            [f"true: {classes[true]}\npred: {classes[pred]} ({probs[0, pred]:.2f})",
             f"evidence for {classes[pred]}\n(predicted)", f"evidence for {classes[true]}\n(true class)"])


def draw_mistakes(model: Predictor, paths: list[Path], true: list[int], classes: list[str], out: Path) -> bool:
    """mistakes.png from mistakes ordered most confident first; False when there are none."""
    explainer = model if isinstance(model, Explainer) and heatmaps_at(model.imgsz) else None
    explain = explainer is not None
    images: list[np.ndarray] = []
    titles: list[str] = []
    for path, label in list(zip(paths, true))[:MAX_EXPLAINED if explain else MAX_MISTAKES]:
        try:
            bgr = load_image(path)
        except Exception:  # a file removed or damaged since the evaluation: leave it out of the picture
            continue
        if explainer is not None:
            more, names = _explained(explainer, bgr, label, classes)
        else:
            probs = model.predict(preprocess(bgr, model.imgsz)[None])[0]
            more = [_rgb(bgr)]
            names = [f"true: {classes[label]}\npred: {classes[int(probs.argmax())]} ({probs.max():.2f})"]
        images += more
        titles += names
    title = "Most confident mistakes" + (" (red: where the model saw evidence for the class)" if explain else "")
    return plot_mistakes(images, titles, out, cols=3 if explain else 4, title=title)
