"""Resource limits shared by every layer (no imports: `yolocls/__init__.py` reads them before OpenCV loads)."""

from __future__ import annotations

import os

# One pixel limit for prepare and serving: above any real photo (8160x6120, a 50 MP phone camera), far
# below a decompression bomb. Serving also bounds how many images decode at once, so memory stays bounded.
DEFAULT_MAX_PIXELS = 50_000_000


def opencv_pixel_cap() -> int:
    """OpenCV's own decode limit (OPENCV_IO_MAX_IMAGE_PIXELS): our limit, or the user's larger one."""
    try:
        wanted = int(os.environ.get("YOLOCLS_MAX_PIXELS", "0"))
    except ValueError:
        wanted = 0
    return max(DEFAULT_MAX_PIXELS, wanted)
