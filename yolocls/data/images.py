"""The scan stage of prepare: decode every file once, hash it, decide whether it must be converted."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from yolocls.core.errors import EmptyImageError, ImageTooLargeError, YoloclsError
from yolocls.core.imaging import (
    DEFAULT_MAX_PIXELS,
    jpeg_complete,
    load_pixels,
    load_rgb8,
    open_image,
    opencv_decode,
    opencv_faithful,
    orientation,
)

# Formats hard-linked as they are when their pixels are already 8-bit RGB (what every reader sees alike).
PASSTHROUGH_FORMATS = {"JPEG": ".jpg", "PNG": ".png"}
LOSSY_FORMATS = {"JPEG", "MPO", "WEBP"}
# JPEGs are scanned at a reduced DCT scale (up to 1/8) no smaller than this: every coefficient is still
# entropy-decoded, so corrupt and truncated files are caught as in a full decode, at 1/2 to 1/5 of the cost.
DRAFT_SIZE = 64


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
    fmt: str = ""  # the Pillow format that was checked: the write stage decodes with this one only

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


def needs_conversion(im: Image.Image, data: bytes) -> bool:
    """False only for files every reader (OpenCV, Pillow, Ultralytics) sees as the same upright 8-bit RGB."""
    return (im.format not in PASSTHROUGH_FORMATS or im.mode != "RGB" or not opencv_faithful(im, data)
            or orientation(im) not in (0, 1) or (im.format == "JPEG" and not jpeg_complete(data)))


def _scan_reason(exc: YoloclsError) -> str:
    """The manifest's short reasons (the path is recorded beside them)."""
    message = str(exc).split(": ", 1)[-1]
    if isinstance(exc, EmptyImageError):
        return "empty file"
    if isinstance(exc, ImageTooLargeError):
        return f"too large: {message}"
    if message.startswith("unsupported file type"):
        return "not an image (cannot identify image format)"
    return message


def scan_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> ScanResult:
    """Read, hash and fully decode one file; never raises for a bad file, returns a reason instead."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return ScanResult(reason=f"unreadable: {exc.strerror or exc}")
    sha = hashlib.sha256(data).hexdigest()
    try:
        im = open_image(data, path.name, max_pixels)
        fmt = im.format or ""
        convert = needs_conversion(im, data)
        width, height = im.size if orientation(im) not in (5, 6, 7, 8) else im.size[::-1]  # upright size
        if fmt in ("JPEG", "MPO"):
            # The hash only needs a small picture; conversions re-decode in full when they are written.
            im.draft(im.mode, (DRAFT_SIZE, DRAFT_SIZE))
        # A file written as it is (8-bit RGB or grey, upright) is hashed as decoded; any other goes through
        # the conversion prepare will write, so a file that cannot be converted is caught here.
        pixels = load_rgb8(im, path.name, data, max_pixels) if convert else load_pixels(im, path.name)
        if fmt == "PNG" and not convert:
            opencv_decode(data, path.name)  # libpng is stricter than Pillow: Ultralytics must read it too
    except YoloclsError as exc:
        return ScanResult(reason=_scan_reason(exc), sha256=sha)
    except Exception as exc:  # a decoder bug on a hostile file is still just this file's problem
        return ScanResult(reason=f"cannot decode ({type(exc).__name__}: {exc})", sha256=sha)
    out_ext = (".jpg" if fmt in LOSSY_FORMATS else ".png") if convert else PASSTHROUGH_FORMATS[fmt]
    return ScanResult(sha256=sha, dhash=dhash(pixels), width=width, height=height, convert=convert,
                      out_ext=out_ext, fmt=fmt)
