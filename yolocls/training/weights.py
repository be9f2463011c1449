"""Find pretrained weights offline-first: --weights, then YOLOCLS_WEIGHTS_DIR, then a download when online."""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from yolocls.core.errors import ConfigError

DEFAULT_WEIGHTS_DIR = Path.home() / ".cache" / "yolocls" / "weights"
DOWNLOAD_TIMEOUT_S = 120


@dataclass(frozen=True)
class WeightsChoice:
    """What the model is built from: a checkpoint (`source` says where it came from) or the YAML."""

    model: str  # path to a .pt, or '<name>.yaml' for training from scratch
    source: str  # "--weights" | "weights-dir" | "download" | "scratch"
    message: str


def weights_dir() -> Path:
    return Path(os.environ.get("YOLOCLS_WEIGHTS_DIR") or DEFAULT_WEIGHTS_DIR).expanduser()


def _online(timeout: float = 2.0) -> bool:
    """A quick TCP check that GitHub (where Ultralytics hosts weights) is reachable."""
    try:
        with socket.create_connection(("github.com", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _download(name: str, dest_dir: Path) -> Path | None:
    """Fetch `name` with Ultralytics' downloader into dest_dir, giving up after a timeout (never hangs)."""
    from yolocls.core.offline import import_ultralytics

    import_ultralytics()
    from ultralytics.utils.downloads import attempt_download_asset

    result: dict[str, Path] = {}

    def fetch() -> None:
        try:
            dest_dir.mkdir(parents=True, exist_ok=True)
            os.environ["YOLO_OFFLINE"] = "false"  # only for this explicit, time-boxed download
            result["path"] = Path(attempt_download_asset(dest_dir / name))
        except Exception:  # any failure means: train from scratch instead
            pass
        finally:
            os.environ["YOLO_OFFLINE"] = "true"

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    worker.join(DOWNLOAD_TIMEOUT_S)
    path = result.get("path")
    return path if path is not None and path.is_file() and path.stat().st_size > 0 else None


def resolve_weights(model_name: str, weights: Path | None, pretrained: bool, allow_download: bool = True
                    ) -> WeightsChoice:
    """Pick the starting point for `model_name` (e.g. 'yolov8n-cls'); never raises for 'not found offline'."""
    yaml_name = f"{model_name}.yaml"
    if weights is not None:
        if not weights.is_file():
            raise ConfigError(f"--weights {weights}: file not found")
        return WeightsChoice(str(weights.resolve()), "--weights", f"starting from {weights}")
    if not pretrained:
        return WeightsChoice(yaml_name, "scratch", f"--no-pretrained: training {model_name} from scratch")
    local = weights_dir() / f"{model_name}.pt"
    if local.is_file():
        return WeightsChoice(str(local), "weights-dir", f"starting from pretrained {local}")
    if allow_download and _online():
        fetched = _download(f"{model_name}.pt", weights_dir())
        if fetched is not None:
            return WeightsChoice(str(fetched), "download", f"downloaded pretrained weights to {fetched}")
    return WeightsChoice(
        yaml_name, "scratch",
        f"no pretrained {model_name}.pt found (looked in {weights_dir()}; offline or download failed): training "
        f"from scratch, so accuracy will be noticeably lower. To use pretrained weights, put {model_name}.pt "
        f"in {weights_dir()} (or set YOLOCLS_WEIGHTS_DIR) or pass --weights PATH")
