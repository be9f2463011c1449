"""A corpus of odd image files as found in the wild: unusual modes and formats, broken and fuzzed files, bombs.

Everything is generated (seeded) with Pillow, OpenCV and hand-written headers; nothing is downloaded.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, features


def _rgb(seed: int, size: tuple[int, int] = (40, 32)) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def _save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _psd(seed: int) -> bytes:
    """A minimal uncompressed 8-bit RGB Photoshop file (Pillow reads PSD but cannot write it)."""
    w, h = 24, 20
    planes = np.random.default_rng(seed).integers(0, 256, (3, h, w), dtype=np.uint8)
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3)
    return header + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0) + planes.tobytes()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_bomb() -> bytes:
    """A valid PNG header declaring 100000 x 100000 pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) \
        + _png_chunk(b"IEND", b"")


def icns_bomb(side: int = 12_000) -> bytes:
    """An Apple icon declaring a 1024x1024 icon (ic10) whose embedded PNG is side x side RGBA: small on
    disk, gigabytes once decoded, and its header says nothing of it."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    comp = zlib.compressobj(9)
    row = b"\0" * (4 * side + 1)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    entry = b"ic10" + struct.pack(">I", 8 + len(png)) + png
    return b"icns" + struct.pack(">I", 8 + len(entry)) + entry


def _hdr_bomb() -> bytes:
    """Radiance HDR declaring 6500 x 6500: OpenCV decodes it, Pillow cannot read its header."""
    return b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 6500 +X 6500\n" + bytes(random.Random(1).randbytes(4000))


def _fuzz(data: bytes, seed: int, flips: int = 12) -> bytes:
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(flips):
        pos = rng.randrange(8, len(out))  # keep the signature so the format is still detected
        out[pos] = rng.randrange(256)
    return bytes(out)


def _exif_rotated_jpeg(seed: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    return _save(_rgb(seed, (48, 24)), "JPEG", exif=exif.tobytes())


def _builders() -> dict[str, Callable[[int], bytes]]:
    b: dict[str, Callable[[int], bytes]] = {
        "palette.png": lambda s: _save(_rgb(s).convert("P"), "PNG"),
        "palette_transparent.png": lambda s: _save(_rgb(s).convert("P"), "PNG", transparency=3),
        "onebit_transparent.png": lambda s: _save(_rgb(s).convert("1"), "PNG", transparency=0),
        "onebit.png": lambda s: _save(_rgb(s).convert("1"), "PNG"),
        "grey_transparent.png": lambda s: _save(_rgb(s).convert("L"), "PNG", transparency=17),
        "rgb_transparent_key.png": lambda s: _save(_rgb(s), "PNG", transparency=(1, 2, 3)),
        "la.png": lambda s: _save(_rgb(s).convert("LA"), "PNG"),
        "rgba.png": lambda s: _save(_rgb(s).convert("RGBA"), "PNG"),
        "grey16.png": lambda s: _save(Image.fromarray(
            np.random.default_rng(s).integers(0, 65535, (30, 30), dtype=np.uint16)), "PNG"),
        "rgb48.png": lambda s: cv2.imencode(".png", np.random.default_rng(s).integers(
            0, 65535, (30, 30, 3), dtype=np.uint16))[1].tobytes(),
        "float01.tif": lambda s: _save(Image.fromarray(np.random.default_rng(s).random((30, 30), dtype=np.float32)),
                                       "TIFF"),
        "float_big.tif": lambda s: _save(Image.fromarray(
            (np.random.default_rng(s).random((30, 30)) * 1e6).astype(np.float32)), "TIFF"),
        "int32.tif": lambda s: _save(Image.fromarray(
            np.random.default_rng(s).integers(0, 1 << 20, (30, 30), dtype=np.int32)), "TIFF"),
        "multipage.tif": lambda s: _save(_rgb(s), "TIFF", save_all=True, append_images=[_rgb(s + 1)]),
        "cmyk.jpg": lambda s: _save(_rgb(s).convert("CMYK"), "JPEG"),
        "grey.jpg": lambda s: _save(_rgb(s).convert("L"), "JPEG"),
        "exif_rotated.jpg": _exif_rotated_jpeg,
        "progressive.jpg": lambda s: _save(_rgb(s), "JPEG", progressive=True),
        "targa.tga": lambda s: _save(_rgb(s), "TGA"),
        "targa_rle.tga": lambda s: _save(_rgb(s).convert("RGBA"), "TGA", compression="tga_rle"),
        "icon.ico": lambda s: _save(_rgb(s, (32, 32)).convert("RGBA"), "ICO", sizes=[(32, 32)]),
        "cursor.cur": lambda s: (lambda d: d[:2] + b"\x02\x00" + d[4:])(
            _save(_rgb(s, (32, 32)).convert("RGBA"), "ICO", sizes=[(32, 32)])),
        "photoshop.psd": _psd,
        "animated.gif": lambda s: _save(_rgb(s).convert("P"), "GIF", save_all=True,
                                        append_images=[_rgb(s + 1).convert("P")], transparency=0),
        "animated.png": lambda s: _save(_rgb(s).convert("RGBA"), "PNG", save_all=True,
                                        append_images=[_rgb(s + 1).convert("RGBA")]),
        "bmp32.bmp": lambda s: _save(_rgb(s).convert("RGBA"), "BMP"),
        "bmp_palette.bmp": lambda s: _save(_rgb(s).convert("P"), "BMP"),
        "portable.ppm": lambda s: _save(_rgb(s), "PPM"),
        "portable.pgm": lambda s: _save(_rgb(s).convert("L"), "PPM"),
        "paintbrush.pcx": lambda s: _save(_rgb(s), "PCX"),
        "silicon.sgi": lambda s: _save(_rgb(s), "SGI"),
        "direct.dds": lambda s: _save(_rgb(s, (32, 32)).convert("RGBA"), "DDS"),
        # broken on purpose
        "empty.jpg": lambda s: b"",
        "text.jpg": lambda s: b"just some text, not an image",
        "broken_header.png": lambda s: b"\x89PNG\r\n\x1a\n" + bytes(random.Random(s).randbytes(64)),
        "truncated.png": lambda s: _save(_rgb(s, (64, 64)), "PNG")[:200],
        "truncated.jpg": lambda s: _save(_rgb(s, (64, 64)), "JPEG")[:400],
        # photo-sized: scanned at a reduced DCT scale, the truncation must still be found
        "truncated_photo.jpg": lambda s: (lambda d: d[: len(d) // 2])(_save(_rgb(s, (640, 480)), "JPEG")),
        "bomb.png": lambda s: _png_bomb(),
        "bomb.hdr": lambda s: _hdr_bomb(),
    }
    if features.check("webp"):
        b["lossy.webp"] = lambda s: _save(_rgb(s), "WEBP")
        b["alpha.webp"] = lambda s: _save(_rgb(s).convert("RGBA"), "WEBP", lossless=True)
    if features.check_codec("libtiff"):
        b["lzw.tif"] = lambda s: _save(_rgb(s), "TIFF", compression="tiff_lzw")
        b["lzma.tif"] = lambda s: _save(_rgb(s), "TIFF", compression="tiff_lzma")
    if features.check_codec("jpg_2000"):
        b["jpeg2000.jp2"] = lambda s: _save(_rgb(s), "JPEG2000")
    for k, base in enumerate(("png", "jpg", "gif", "tif", "bmp")):
        fmt = {"jpg": "JPEG", "tif": "TIFF"}.get(base, base.upper())
        for j in range(3):
            b[f"fuzzed_{base}_{j}.{base}"] = (lambda s, f=fmt, k=k, j=j: _fuzz(_save(_rgb(s + 7, (48, 48)), f),
                                                                              1000 * k + j))
    return b


def write_corpus(folder: Path, seed: int = 0) -> list[Path]:
    """Write every odd file into `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (name, build) in enumerate(sorted(_builders().items())):
        try:
            data = build(seed + 31 * k)
        except (OSError, ValueError, KeyError):  # this Pillow build cannot write that variant
            continue
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths
