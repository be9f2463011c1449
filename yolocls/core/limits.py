"""Resource limits shared by every layer (no imports: `yolocls/__init__.py` reads them before OpenCV loads)."""

from __future__ import annotations

import os

# One pixel limit for prepare and serving: above any real photo (8160x6120, a 50 MP phone camera), far
# below a decompression bomb. Serving also bounds how many images decode at once, so memory stays bounded.
DEFAULT_MAX_PIXELS = 50_000_000


def proc_status(field: str) -> str | None:
    """A field of /proc/self/status (e.g. 'Umask', 'VmData'), None where there is no such file or field."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key == field:
                    return value.strip()
    except OSError:
        pass
    return None


def opencv_pixel_cap() -> int:
    """OpenCV's own decode limit (OPENCV_IO_MAX_IMAGE_PIXELS): our limit, or the user's larger one."""
    try:
        wanted = int(os.environ.get("YOLOCLS_MAX_PIXELS", "0"))
    except ValueError:
        wanted = 0
    return max(DEFAULT_MAX_PIXELS, wanted)


def set_opencv_pixel_cap() -> None:
    """For a program's entry point, before anything imports cv2 (OpenCV reads its decode limit when it loads):
    no OpenCV decode can allocate more than the pixel limit, even on a path that skipped the header check.
    Inherited by the processes the program starts (server workers, Ray workers); a user's value is kept."""
    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(opencv_pixel_cap()))


def _cgroup_cpu_limit() -> float | None:
    """CPUs allowed by the container's CPU quota (cgroup v2 cpu.max or v1 cfs quota), None when unlimited."""
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]  # noqa: SIM115 (tiny file)
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read())  # noqa: SIM115
        period_us = int(open("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read())  # noqa: SIM115
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def available_cpus() -> int:
    """CPUs this process may really use: its affinity mask and the container's CPU quota, not the host's
    core count (a 2-CPU container on a 64-core host must not start 64 threads per pool)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_limit()
    if quota is not None:
        cpus = min(cpus, max(1, int(quota + 0.5)))
    return max(1, cpus)


CPU_THREADS_ENV = "YOLOCLS_CPU_THREADS"


def cpu_threads_setting() -> int | None:
    """Torch CPU threads for training when set (`YOLOCLS_CPU_THREADS`; a studio job sets it to the CPUs it
    reserved), else None: Ultralytics' own choice."""
    value = os.environ.get(CPU_THREADS_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{CPU_THREADS_ENV}={value!r}: expected a whole number of threads, at least 1")
    return int(value)
