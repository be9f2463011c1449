"""The one image decoding contract shared by prepare, evaluation, `yolocls predict` and the server.

- Any format Pillow can open is accepted; the header is read and the pixel limit checked before any
  pixels are decoded. Formats whose header bounds the decoded size are decoded here; container formats
  (ICNS, ICO, ...) whose embedded images may be larger than declared are decoded in a memory-capped child
  process (`core.isolated`). Pillow's own decompression-bomb guard stays as Pillow sets it.
- Files OpenCV reads faithfully (8-bit RGB/grey JPEG and PNG without transparency) are left to OpenCV,
  exactly as Ultralytics reads them (`cv2.imread`), so served JPEG/PNG match training bit for bit.
- Everything else is converted by `to_rgb8`: EXIF orientation applied, alpha and transparency keys
  composited on white, 16-bit and float scaled to 8 bits. `prepare` writes these conversions as PNG/JPEG,
  the server applies the same conversion in memory.
"""

from __future__ import annotations

import io
import re
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps

from yolocls.core.errors import EmptyImageError, ImageError, ImageTooLargeError
from yolocls.core.limits import DEFAULT_MAX_PIXELS

__all__ = ["DEFAULT_MAX_PIXELS", "open_image", "opencv_faithful", "to_rgb8", "load_rgb8", "load_pixels",
           "opencv_decode"]

EXIF_ORIENTATION = 0x0112
HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")

# PostScript is rendered by running Ghostscript on the file: never for untrusted bytes.
REFUSED_FORMATS = frozenset({"EPS"})
# Formats whose decoded pixels are bounded by the size in their header (checked before decoding).
SIZE_BOUNDED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "DIB", "GIF", "TIFF", "PPM", "PCX", "SGI",
                                  "TGA", "DDS", "PSD", "JPEG2000", "HDR", "QOI", "FITS", "XBM", "IM", "SUN"})


def open_image(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Identify `data` and check its dimensions from the header; no pixels are decoded yet."""
    if not data:
        raise EmptyImageError(f"{name}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # Pillow's own guard, met before our check on the header
        found = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f"{found.group(1)} pixels" if found else "its size"
        raise ImageTooLargeError(f"{name}: {declared} exceed the limit of {max_pixels} pixels "
                                 "(decompression bomb)") from None
    except Exception:
        raise ImageError(f"{name}: unsupported file type (not an image format yolocls can read)") from None
    if im.format in REFUSED_FORMATS:
        raise ImageError(f"{name}: unsupported file type ({im.format} is not accepted: it is decoded by running "
                         "an external interpreter)")
    width, height = im.size
    if width < 1 or height < 1:
        raise ImageError(f"{name}: invalid image size {width}x{height}")
    if width * height > max_pixels:
        raise ImageTooLargeError(f"{name}: {width}x{height} exceeds the limit of {max_pixels} pixels")
    return im


def image_pixels(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """Width x height from the header (the limit checked); no pixels decoded."""
    with open_image(data, name, max_pixels) as im:
        return int(im.size[0] * im.size[1])


def jpeg_complete(data: bytes) -> bool:
    """A JPEG ends with its EOI marker. Ultralytics "repairs" one that does not by rewriting it in place, and
    OpenCV decodes the part that is there: such files go through Pillow, which says they are truncated."""
    return data.endswith(b"\xff\xd9")


def png_bit_depth(data: bytes) -> int:
    return data[24] if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 24 else 0


def opencv_faithful(im: Image.Image, data: bytes) -> bool:
    """True when `cv2.imread` gives exactly the picture Pillow + `to_rgb8` would (up to EXIF rotation,
    which OpenCV applies too): 8-bit RGB or grey JPEG/PNG without alpha or a transparency key."""
    if im.mode not in ("RGB", "L") or "transparency" in im.info:
        return False
    if im.format == "JPEG":
        return True
    return im.format == "PNG" and png_bit_depth(data) == 8


def orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block: treat as upright, as OpenCV does
        return 1


def _scale_to_8bit(im: Image.Image) -> Image.Image:
    arr = np.asarray(im, dtype=np.float32)
    finite = arr[np.isfinite(arr)]
    low, peak = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if im.mode.startswith("I;16") or 255 < peak <= 65535:
        arr = arr / 257.0
    elif im.mode == "F" and 0.0 <= low and peak <= 1.0:
        arr = arr * 255.0  # float images in [0, 1]
    elif peak > 65535 or low < 0:
        arr = (arr - low) * (255.0 / max(peak - low, 1e-9))
    arr = np.nan_to_num(arr, nan=0.0, posinf=255.0, neginf=0.0)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")


def to_rgb8(im: Image.Image) -> Image.Image:
    """8-bit RGB with EXIF orientation applied; alpha and transparency keys composited on white;
    16-bit/32-bit/float scaled down. The result carries no metadata (nothing to re-apply on save)."""
    if orientation(im) not in (0, 1):
        im = ImageOps.exif_transpose(im) or im
    if im.mode in HIGH_DEPTH_MODES:
        im = _scale_to_8bit(im)
    if "transparency" in im.info and im.mode not in ALPHA_MODES:
        im = im.convert("RGBA")  # palette, 1-bit, grey and RGB transparency keys
    if im.mode in ALPHA_MODES:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    rgb = im.convert("RGB")
    rgb.info = {}
    return rgb


def load_rgb8(im: Image.Image, name: str, data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode the pixels of an image opened from `data` and convert them; errors name the file. Formats whose
    header does not bound their memory are decoded in the capped child process."""
    if im.format in SIZE_BOUNDED_FORMATS:
        return convert_rgb8(im, name)
    from yolocls.core.isolated import decode_rgb_isolated

    return Image.fromarray(decode_rgb_isolated(data, name, max_pixels), mode="RGB")


def convert_rgb8(im: Image.Image, name: str) -> Image.Image:
    """Decode (in this process) and convert; only for size-bounded formats, or inside the capped child."""
    load_pixels(im, name)
    try:
        return to_rgb8(im)
    except Exception as exc:
        raise ImageError(f"{name}: cannot convert to RGB ({exc})") from None


def load_pixels(im: Image.Image, name: str) -> Image.Image:
    """Decode `im` in place as it is (no conversion); errors name the file. Only for size-bounded formats."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im.load()
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"{name}: an embedded image exceeds Pillow's decompression-bomb limit") from None
    except MemoryError:
        raise ImageTooLargeError(f"{name}: decoding needs far more memory than its declared {im.size[0]}x"
                                 f"{im.size[1]} pixels (an embedded image larger than declared); refusing it") from None
    except Exception as exc:
        raise ImageError(f"{name}: corrupt or truncated image ({exc})") from None
    return im


def opencv_decode(data: bytes, name: str) -> np.ndarray:
    """BGR uint8 (H, W, 3) exactly as `cv2.imread` gives it (Ultralytics' reader); call only after
    `open_image` checked the dimensions. libpng/libjpeg refusing the data is a corrupt file."""
    try:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        bgr = None
    if bgr is None or bgr.size == 0:
        raise ImageError(f"{name}: corrupt or truncated image (OpenCV cannot decode it)")
    return bgr


def decode_bgr(data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Any supported image -> BGR uint8 (H, W, 3): OpenCV for what it reads faithfully (bit-exact with
    Ultralytics), else Pillow + `to_rgb8` (what prepare writes for those files). Errors name the file:
    EmptyImageError (422), ImageTooLargeError (413), ImageError (415: unsupported, corrupt or truncated)."""
    im = open_image(data, name, max_pixels)
    if opencv_faithful(im, data) and (im.format != "JPEG" or jpeg_complete(data)):
        return opencv_decode(data, name)
    pixels = np.array(load_rgb8(im, name, data, max_pixels))  # a writable copy; Pillow's is released on return
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR, dst=pixels)
