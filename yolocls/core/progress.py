"""Progress of long work written to a small JSON file, for a process that follows it from outside (the studio
follows a preparation running in a Ray worker this way)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yolocls.core.fs import atomic_write_text

MIN_INTERVAL_S = 0.5


def progress_reporter(path: Path | None, stage: str) -> Callable[[int, int], None] | None:
    """A `(done, total)` callback writing {"stage", "done", "total"} to `path` (atomically, at most every
    MIN_INTERVAL_S, always at the end); None when there is no path."""
    if path is None:
        return None
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < MIN_INTERVAL_S:
            return
        last[0] = now
        write_progress(path, {"stage": stage, "done": done, "total": total})

    return report


def write_progress(path: Path, data: dict[str, Any]) -> None:
    """Write one progress state (a stage reached) at once."""
    atomic_write_text(path, json.dumps(data))


def read_progress(path: Path) -> dict[str, Any] | None:
    """The last progress written to `path`, or None (not started, or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
