"""Make Ultralytics offline-safe: no font downloads, update checks or pip installs at run time.

Must run before `ultralytics` is imported; every module that imports Ultralytics calls
`ensure_offline_env()` first and imports it lazily.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_config_dir() -> Path:
    """A writable folder for Ultralytics settings (and fonts, which we never download)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "yolocls" / "ultralytics"


def ensure_offline_env() -> None:
    """Set the environment Ultralytics reads at import time (only where the user has not)."""
    os.environ.setdefault("YOLO_OFFLINE", "true")  # Ultralytics honours only this exact spelling
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("MPLBACKEND", "Agg")
    if "YOLO_CONFIG_DIR" not in os.environ:
        cfg = default_config_dir()
        try:
            cfg.mkdir(parents=True, exist_ok=True)
            probe = cfg / ".write-test"
            probe.touch()
            probe.unlink()
        except OSError:
            import tempfile

            cfg = Path(tempfile.gettempdir()) / "yolocls-ultralytics"
            cfg.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = str(cfg)
    _provide_fonts(Path(os.environ["YOLO_CONFIG_DIR"]))


def _provide_fonts(cfg: Path) -> None:
    """Ultralytics downloads Arial(.Unicode).ttf for plot labels; give it matplotlib's DejaVu Sans instead."""
    targets = [cfg / "Arial.ttf", cfg / "Arial.Unicode.ttf"]
    if all(t.exists() for t in targets):
        return
    try:
        import matplotlib

        dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        for target in targets:
            if not target.exists() and dejavu.exists():
                import shutil

                shutil.copyfile(dejavu, target)
    except (ImportError, OSError):
        pass  # plots then fall back to PIL's default font


def import_ultralytics():  # type: ignore[no-untyped-def]
    """Import Ultralytics with the offline environment in place and its settings pinned offline."""
    ensure_offline_env()
    import ultralytics
    from ultralytics.utils import SETTINGS

    wanted = {"sync": False, "hub": False, "clearml": False, "comet": False, "dvc": False,
              "mlflow": False, "neptune": False, "raytune": False, "tensorboard": False, "wandb": False}
    stale = {k: v for k, v in wanted.items() if k in SETTINGS and SETTINGS[k] != v}
    if stale:
        SETTINGS.update(stale)
    return ultralytics
