"""What every job's worker function does first and last, inside its Ray worker process: its output into the job's
log file, the started mark the scheduler waits for, the version check, and errors said in one line."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from yolocls.core.limits import CPU_THREADS_ENV, set_opencv_pixel_cap


@contextlib.contextmanager
def log_to(path: Path) -> Iterator[None]:
    """Send this process's stdout/stderr (file descriptors too: Ultralytics' logger) to the job's log file."""
    set_opencv_pixel_cap()  # a Ray worker process: OpenCV's limit before a job imports cv2 (kept when already set)
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


STUDIO_KEYS = ("started_file", "studio_version", "cpu_threads")  # what the scheduler adds to a job's own options


def started(options: dict[str, Any]) -> dict[str, Any]:
    """Tell the studio this job's worker is running (until then the job is queued, in Ray's queue), check that
    this node runs the studio's yolocls version, and return the job's own options."""
    from yolocls import __version__
    from yolocls.core.errors import YoloclsError

    if options.get("started_file"):
        Path(options["started_file"]).touch()
    wanted = options.get("studio_version")
    if wanted and wanted != __version__:
        raise YoloclsError(f"this worker node runs yolocls {__version__}, the studio {wanted}: install the same "
                           "version on every node of the cluster")
    if options.get("cpu_threads"):  # the CPUs this job reserved: the trainer trains with as many torch threads
        os.environ[CPU_THREADS_ENV] = str(options["cpu_threads"])
    return {k: v for k, v in options.items() if k not in STUDIO_KEYS}


def ray_gpus() -> int:
    """GPUs Ray assigned to this worker (0 outside Ray or on a CPU-only cluster)."""
    try:
        import ray

        return len(ray.get_gpu_ids()) if ray.is_initialized() else 0
    except Exception:
        return 0


def error_line(exc: BaseException) -> str:
    from yolocls.core.errors import YoloclsError

    return str(exc) if isinstance(exc, YoloclsError) else f"{type(exc).__name__}: {exc}"
