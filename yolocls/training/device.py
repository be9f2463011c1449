"""Device choice: `auto` takes every CUDA GPU (DDP for several), else the CPU with a time estimate."""

from __future__ import annotations

from yolocls.core.errors import ConfigError
from yolocls.core.limits import available_cpus
from yolocls.training.hyperparams import parse_device

# Relative training cost per image of each model size (about their FLOPs), and a CPU calibration:
# seconds per image per epoch for yolov8n-cls at 224 px on one core (measured on a 2-core runner).
MODEL_COST = {"n": 1.0, "s": 3.8, "m": 12.6, "l": 30.0, "x": 47.0}
CPU_SECONDS_PER_IMAGE_224 = 0.08
CPU_SECONDS_PER_IMAGE_FLOOR = 0.004  # data loading and per-step overhead dominate tiny images


def resolve_device(requested: str) -> str:
    """'auto' | 'cpu' | '0' | '0,1' -> the device string for Ultralytics; unavailable GPUs are errors."""
    import torch

    requested = parse_device(requested)
    if requested == "auto":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return ",".join(str(i) for i in range(n)) if n else "cpu"
    if requested == "cpu":
        return "cpu"
    ids = [int(x) for x in requested.split(",")]
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = [i for i in ids if i >= available]
    if not ids or missing:
        raise ConfigError(f"--device {requested}: GPU {missing or ids} not available ({available} CUDA device(s) "
                          "found); use --device cpu or auto")
    return ",".join(map(str, ids))


def cpu_estimate_seconds(model: str, imgsz: int, n_images: int, epochs: int) -> float:
    """A rough CPU wall-time estimate for a training run (order of magnitude, not a promise)."""
    size = model.replace("-cls", "")[-1:]
    cores = available_cpus()
    per_image = max(CPU_SECONDS_PER_IMAGE_FLOOR,
                    CPU_SECONDS_PER_IMAGE_224 * MODEL_COST.get(size, 1.0) * (imgsz / 224) ** 2) / cores
    return per_image * n_images * epochs * 1.25  # + validation


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 90:
        return f"{seconds}s"
    if seconds < 5400:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
