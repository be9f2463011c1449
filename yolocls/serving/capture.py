"""Capture from production: keep copies of the requests a served model answered `unknown`, or below a confidence
you set, plus an optional random sample, in a bounded store (most files and bytes; the oldest go first).

The request path only hands the bytes to a queue (never waits: when the queue's bytes are full the image is not
kept, and counted); one writer thread writes each image and a JSON sidecar with the prediction, each through a
temporary file and a rename. The store is a folder a dataset can import: `<time>-<sha256[:12]>.<ext>` + `.json`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import random
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from yolocls.core.fs import atomic_write_text, follow_umask

log = logging.getLogger("yolocls.server")
SIGNATURES = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG\r\n\x1a\n", ".png"), (b"GIF8", ".gif"), (b"BM", ".bmp"),
              (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"))


class CaptureSettings(BaseModel):
    folder: Path
    unknown: bool = Field(default=True, description="Keep what the model answered `unknown`")
    below: float | None = Field(default=None, gt=0, le=1, description="Keep answers below this confidence")
    sample: float = Field(default=0.0, ge=0, le=1, description="Keep this fraction of all other requests")
    max_files: int = Field(default=10_000, ge=1)
    max_bytes: int = Field(default=1024**3, ge=1)
    queue_bytes: int = Field(default=64 * 1024**2, ge=1, description="Bytes waiting to be written; more: not kept")


def extension(data: bytes) -> str:
    """The image type from its first bytes (never from the client's file name)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return next((ext for magic, ext in SIGNATURES if data.startswith(magic)), ".bin")


class CaptureStore:
    def __init__(self, settings: CaptureSettings) -> None:
        self.settings = settings
        settings.folder.mkdir(parents=True, exist_ok=True)
        self.items: deque[tuple[Path, int]] = deque()  # (image, bytes of image + sidecar), oldest first
        self.bytes = 0
        for image in sorted(p for p in settings.folder.iterdir() if p.suffix != ".json" and not p.name.startswith(".")):
            size = image.stat().st_size + _size(image.with_suffix(".json"))
            self.items.append((image, size))
            self.bytes += size
        self.queue: queue.Queue[tuple[bytes, dict[str, Any]] | None] = queue.Queue()
        self.waiting = 0  # bytes in the queue
        self.kept = self.dropped = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._write_loop, name="yolocls-capture", daemon=True)
        self.thread.start()

    def reason(self, prediction: dict[str, Any]) -> str | None:
        s = self.settings
        if s.unknown and prediction.get("unknown"):
            return "unknown"
        if s.below is not None and float(prediction.get("confidence", 1.0)) < s.below:
            return "below"
        if s.sample > 0 and random.random() < s.sample:
            return "sample"
        return None

    def offer(self, data: bytes, prediction: dict[str, Any], model: str) -> bool:
        """Queue a copy when the prediction calls for one; never blocks."""
        why = self.reason(prediction)
        if why is None:
            return False
        with self.lock:
            if self.waiting + len(data) > self.settings.queue_bytes:
                self.dropped += 1
                return False
            self.waiting += len(data)
        self.queue.put((data, {"reason": why, "model": model, "prediction": prediction, "time": time.time()}))
        return True

    def close(self, timeout: float = 10.0) -> None:
        self.queue.put(None)
        self.thread.join(timeout)

    def _write_loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            data, meta = item
            try:
                self._write(data, meta)
            except OSError as exc:  # a full disk must not stop serving: the image is not kept
                log.warning("capture: could not keep an image: %s", exc)
                self.dropped += 1
            finally:
                with self.lock:
                    self.waiting -= len(data)

    def _write(self, data: bytes, meta: dict[str, Any]) -> None:
        sha = hashlib.sha256(data).hexdigest()
        image = self.settings.folder / f"{time.time_ns():020d}-{sha[:12]}{extension(data)}"
        tmp = image.with_name(f".{image.name}.tmp")
        tmp.write_bytes(data)
        follow_umask(tmp)
        os.replace(tmp, image)
        atomic_write_text(image.with_suffix(".json"), json.dumps({**meta, "sha256": sha, "bytes": len(data)}))
        size = len(data) + _size(image.with_suffix(".json"))
        self.items.append((image, size))
        self.bytes += size
        self.kept += 1
        while self.items and (len(self.items) > self.settings.max_files or self.bytes > self.settings.max_bytes):
            old, old_size = self.items.popleft()
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)
            self.bytes -= old_size


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
