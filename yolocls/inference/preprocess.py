"""The ONE inference preprocessing, shared by report, export parity, the server and `yolocls predict`.

It reproduces Ultralytics' classification inference transform (`classify_transforms`) exactly:
BGR decode (as `cv2.imread`) -> RGB -> shorter side resized to imgsz with PIL bilinear (as torchvision
`Resize(int)`) -> centre crop imgsz x imgsz (torchvision's rounding) -> /255 float32, CHW.
No mean/std normalisation, and no softmax afterwards: the exported head already outputs probabilities.
No torch import here: the serving path must not need it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from yolocls.core.errors import ImageError
from yolocls.core.imaging import decode_bgr
from yolocls.core.limits import DEFAULT_MAX_PIXELS


def decode_image(data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Bytes -> BGR uint8 (H, W, 3) under the shared decoding contract (`yolocls.core.imaging.decode_bgr`):
    every format prepare accepts, converted as prepare converts it; JPEG/PNG exactly as `cv2.imread`."""
    return decode_bgr(data, name, max_pixels)


def load_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return decode_image(data, str(path), max_pixels)


def resized_size(width: int, height: int, imgsz: int) -> tuple[int, int]:
    """torchvision Resize(int): the shorter side becomes imgsz, the longer one is truncated (int())."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = imgsz, int(imgsz * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def preprocess(bgr: np.ndarray, imgsz: int) -> np.ndarray:
    """BGR uint8 image -> float32 (3, imgsz, imgsz) in [0, 1], RGB, as the model was trained/validated."""
    return _preprocess_pil(_to_pil(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), imgsz)


def _to_pil(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(rgb)


def _preprocess_pil(im: Image.Image, imgsz: int) -> np.ndarray:
    width, height = im.size
    new_w, new_h = resized_size(width, height, imgsz)
    if (new_w, new_h) != (width, height):
        im = im.resize((new_w, new_h), Image.Resampling.BILINEAR)
    arr = np.asarray(im)
    if new_h < imgsz or new_w < imgsz:  # torchvision CenterCrop pads with zeros first
        pad_h, pad_w = max(0, imgsz - new_h), max(0, imgsz - new_w)
        arr = np.pad(arr, ((pad_h // 2, (pad_h + 1) // 2), (pad_w // 2, (pad_w + 1) // 2), (0, 0)))
        new_h, new_w = arr.shape[:2]
    top = int(round((new_h - imgsz) / 2.0))
    left = int(round((new_w - imgsz) / 2.0))
    crop = arr[top:top + imgsz, left:left + imgsz]
    return np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)


def preprocess_bytes(data: bytes, imgsz: int, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS
                     ) -> np.ndarray:
    """`preprocess(decode_image(data))` with a smaller memory peak: the decoded array is converted to RGB in
    place and released as soon as Pillow holds its copy (a 50 MP image: ~7 bytes/pixel at peak, not 10)."""
    pixels = decode_image(data, name, max_pixels)
    cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB, dst=pixels)
    im = _to_pil(pixels)
    del pixels
    return _preprocess_pil(im, imgsz)
