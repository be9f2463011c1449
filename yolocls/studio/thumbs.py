"""Image files for the browser: the original, or a JPEG thumbnail made once and cached under .studio/thumbs."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

from fastapi.responses import FileResponse

from yolocls.core.fs import atomic_path
from yolocls.core.imaging import DEFAULT_MAX_PIXELS, open_image
from yolocls.core.limits import available_cpus

THUMB_MAX = 1024
# Thumbnails are made at most this many at a time (each may decode a full-size image): a page asking for
# hundreds at once queues instead of multiplying the studio's memory.
_MAKING = threading.BoundedSemaphore(max(1, min(4, available_cpus())))


def image_response(path: Path, size: int | None, cache_dir: Path) -> FileResponse:
    """`path` itself, or its thumbnail (longest side `size`), cached by path, size and modification time."""
    if size is None:
        return FileResponse(path)
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_mtime_ns}|{stat.st_size}|{size}".encode()).hexdigest()[:32]
    cache = cache_dir / f"{key}.jpg"
    if not cache.is_file():
        with _MAKING:
            if not cache.is_file():  # made by another request while this one waited
                _make(path, size, cache)
    return FileResponse(cache, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


def _make(path: Path, size: int, cache: Path) -> None:
    with open_image(path.read_bytes(), path.name, DEFAULT_MAX_PIXELS) as im:
        im.draft("RGB", (size, size))
        rgb = im.convert("RGB")
    rgb.thumbnail((size, size))
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=85)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp:
        tmp.write_bytes(buf.getvalue())


def inside(root: Path, rel: str) -> Path | None:
    """root/rel when it is a file inside root (no dot-parts, no escape), else None."""
    parts = Path(rel).parts
    if not rel or os.path.isabs(rel) or any(p.startswith(".") or "\x00" in p for p in parts):
        return None
    path = (root / rel).resolve()
    return path if path.is_relative_to(root.resolve()) and path.is_file() else None
