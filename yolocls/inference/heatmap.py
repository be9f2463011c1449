"""Heatmaps for explanations: a class activation map drawn over the original image, as PNG bytes.

The map covers the centre crop the model saw; it is mapped back through the exact preprocessing geometry
(shorter side resized to imgsz, centre crop, zero padding for small images) to the original image size.
Outside the crop there is no evidence, so no heat.
"""

from __future__ import annotations

import base64

import cv2
import numpy as np

from yolocls.core.errors import YoloclsError
from yolocls.inference.preprocess import resized_size

# bench/explain.py: at 224 px (a 7x7 map) hiding the top 20 % of the heatmap costs 1.32x the confidence of
# hiding a random 20 % and 5.8x its bottom 20 %; at 64-128 px (2x2-4x4 maps) it does not beat random blocks.
MIN_CAM_CELLS = 7
STRIDE = 32  # input pixels per activation-map cell of the classification backbone


def heatmaps_at(imgsz: int | None) -> bool:
    """Whether a model trained/exported at `imgsz` gives heatmaps (the one rule the report, the server and the
    studio apply): a map of at least MIN_CAM_CELLS cells a side."""
    return imgsz is not None and imgsz >= MIN_CAM_CELLS * STRIDE


class ExplainUnavailable(YoloclsError):
    status_code = 422


def check_faithful_grid(cam_shape: tuple[int, ...], imgsz: int) -> None:
    """Refuse heatmaps from maps too coarse to have been measured faithful (they would be decoration)."""
    h, w = cam_shape[-2:]
    if min(h, w) < MIN_CAM_CELLS:
        raise ExplainUnavailable(
            f"explain: this model's activation map is only {h}x{w} cells (imgsz {imgsz}); heatmaps are shipped "
            f"only from {MIN_CAM_CELLS}x{MIN_CAM_CELLS} (imgsz >= {MIN_CAM_CELLS * STRIDE}), where they are measured "
            "faithful (bench/explain.py). Train or export at imgsz >= 224")


def heat_at_image_size(cam: np.ndarray, width: int, height: int, imgsz: int) -> np.ndarray:
    """(h, w) map of one class -> (height, width) float32 in [0, 1], aligned with the original image."""
    new_w, new_h = resized_size(width, height, imgsz)
    pad_h, pad_w = max(0, imgsz - new_h), max(0, imgsz - new_w)
    full_h, full_w = new_h + pad_h, new_w + pad_w
    top, left = int(round((full_h - imgsz) / 2.0)), int(round((full_w - imgsz) / 2.0))
    crop = cv2.resize(cam.astype(np.float32), (imgsz, imgsz), interpolation=cv2.INTER_LINEAR)
    low, high = float(crop.min()), float(crop.max())
    crop = (crop - low) / (high - low) if high > low else np.zeros_like(crop)
    canvas = np.zeros((full_h, full_w), np.float32)
    canvas[top:top + imgsz, left:left + imgsz] = crop
    canvas = canvas[pad_h // 2:pad_h // 2 + new_h, pad_w // 2:pad_w // 2 + new_w]  # drop the zero padding
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_LINEAR)


def overlay_png(bgr: np.ndarray, cam: np.ndarray, imgsz: int, alpha: float = 0.45) -> bytes:
    """The original image with the map as a colour overlay (red = most evidence), PNG-encoded."""
    height, width = bgr.shape[:2]
    heat = heat_at_image_size(cam, width, height, imgsz)
    colour = cv2.applyColorMap(np.clip(heat * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    blended = cv2.addWeighted(bgr, 1 - alpha, colour, alpha, 0)
    ok, png = cv2.imencode(".png", blended)
    if not ok:
        raise ValueError("could not encode the heatmap")
    return png.tobytes()


def overlay_base64(bgr: np.ndarray, cam: np.ndarray, imgsz: int) -> str:
    return base64.b64encode(overlay_png(bgr, cam, imgsz)).decode("ascii")
