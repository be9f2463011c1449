"""The image conventions every layer shares: the pixel limit and the conversion to 8-bit RGB.

`prepare` writes training images with `to_rgb8`; serving decodes formats OpenCV cannot read the same way,
so a model is served the pixels it was trained on.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

# One limit for prepare and serving: above any real photo (48-50 MP phone cameras), far below a
# decompression bomb. Serving bounds how many images decode at once, so memory stays bounded too.
DEFAULT_MAX_PIXELS = 50_000_000  # 8160x6120, a 50 MP phone photo


def to_rgb8(im: Image.Image) -> Image.Image:
    """8-bit RGB with EXIF orientation applied; alpha composited on white; 16/32-bit scaled down."""
    im = ImageOps.exif_transpose(im) or im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        peak = float(arr.max()) if arr.size else 0.0
        if im.mode.startswith("I;16") or 255 < peak <= 65535:
            arr = arr / 257.0
        elif peak > 65535:
            low = float(arr.min())
            arr = (arr - low) * (255.0 / max(peak - low, 1e-9))
        im = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    return im.convert("RGB") if im.mode != "RGB" else im
