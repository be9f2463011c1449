"""Image checks for dataset preparation: decode every file, normalise what Ultralytics would mishandle."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from yolocls.core.imaging import DEFAULT_MAX_PIXELS, to_rgb8

# Formats Ultralytics/OpenCV read faithfully when the pixels are 8-bit RGB: these are hard-linked as is.
PASSTHROUGH_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp"}
LOSSY_FORMATS = {"JPEG", "MPO", "WEBP"}
EXIF_ORIENTATION = 0x0112
DRAFT_SIZE = 256  # big JPEGs are scanned at a reduced DCT scale no smaller than this


@dataclass(frozen=True)
class ScanResult:
    """What scanning one file found: usable (with hashes) or skipped (with a reason)."""

    reason: str | None = None
    sha256: str = ""
    dhash: int = 0
    width: int = 0
    height: int = 0
    convert: bool = False
    out_ext: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None


def dhash(im: Image.Image, size: int = 16) -> int:
    """Difference hash (size*size bits) of an image: near-identical pictures differ in few bits.

    256 bits rather than the classic 64: on small, similar-looking images (icons, Fashion-MNIST) a
    64-bit hash calls different objects near-duplicates.
    """
    small = np.asarray(im.convert("L").resize((size + 1, size), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def _jpeg_needs_rewrite(data: bytes) -> bool:
    # Ultralytics "repairs" JPEGs not ending in FFD9 by rewriting them in place; a hard link would
    # then modify the user's original, so such files are re-encoded instead.
    return not data.endswith(b"\xff\xd9")


def scan_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> ScanResult:
    """Read, hash and fully decode one file; never raises for a bad file, returns a reason instead."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return ScanResult(reason=f"unreadable: {exc.strerror or exc}")
    if not data:
        return ScanResult(reason="empty file")
    sha = hashlib.sha256(data).hexdigest()
    Image.MAX_IMAGE_PIXELS = None  # we enforce our own limit before decoding
    try:
        im = Image.open(io.BytesIO(data))
    except Exception:
        return ScanResult(reason="not an image (cannot identify image format)", sha256=sha)
    width, height = im.size
    if width * height > max_pixels:
        return ScanResult(reason=f"too large: {width}x{height} exceeds {max_pixels} pixels", sha256=sha)
    if width < 1 or height < 1:
        return ScanResult(reason=f"invalid size {width}x{height}", sha256=sha)
    fmt = im.format or ""
    if fmt in ("JPEG", "MPO") and min(width, height) > 2 * DRAFT_SIZE:
        # Decode big JPEGs with DCT scaling (all the compressed data is still read, so truncation is still
        # caught); the hash only needs a small picture and converted files are re-decoded in full.
        im.draft(im.mode, (DRAFT_SIZE, DRAFT_SIZE))
    try:
        im.load()
    except Exception as exc:
        return ScanResult(reason=f"corrupt or truncated image: {exc}", sha256=sha)
    orientation = im.getexif().get(EXIF_ORIENTATION, 1)
    convert = (
        fmt not in PASSTHROUGH_FORMATS
        or im.mode != "RGB"
        or orientation not in (0, 1)
        or (fmt == "JPEG" and _jpeg_needs_rewrite(data))
    )
    try:
        rgb = to_rgb8(im)
    except Exception as exc:
        return ScanResult(reason=f"cannot convert to RGB: {exc}", sha256=sha)
    out_ext = (".jpg" if fmt in LOSSY_FORMATS else ".png") if convert else PASSTHROUGH_FORMATS[fmt]
    rotated = orientation in (5, 6, 7, 8)
    return ScanResult(sha256=sha, dhash=dhash(rgb), width=height if rotated else width,
                      height=width if rotated else height, convert=convert, out_ext=out_ext)


def write_normalised(src: Path, dst: Path) -> None:
    """Decode `src`, normalise it to 8-bit RGB and write it to `dst` (format from its suffix)."""
    Image.MAX_IMAGE_PIXELS = None
    with Image.open(src) as im:
        rgb = to_rgb8(im)
        if dst.suffix == ".jpg":
            rgb.save(dst, "JPEG", quality=95, subsampling=0)
        else:
            rgb.save(dst, "PNG")
