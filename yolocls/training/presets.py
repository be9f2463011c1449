"""Training presets and augmentation sets (loaded from presets.yaml) and the argument resolution rules."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, Field

from yolocls.core.errors import ConfigError

# Arguments yolocls owns itself; `--set` may not change them (use the named flags instead).
RESERVED_KEYS = {"data", "project", "name", "exist_ok", "resume", "device", "model", "mode", "task"}


class AugmentationSet(BaseModel):
    description: str
    args: dict[str, Any]


class Preset(BaseModel):
    description: str
    model: str = Field(description="Ultralytics model name without suffix, e.g. yolov8n-cls")
    aug: str = Field(description="Name of an augmentation set")
    args: dict[str, Any] = Field(description="Ultralytics training arguments")


class PresetBook(BaseModel):
    augmentations: dict[str, AugmentationSet]
    presets: dict[str, Preset]


@lru_cache(maxsize=1)
def load_presets() -> PresetBook:
    text = resources.files("yolocls.training").joinpath("presets.yaml").read_text(encoding="utf-8")
    book = PresetBook.model_validate(yaml.safe_load(text))
    for name, preset in book.presets.items():
        if preset.aug not in book.augmentations:
            raise ConfigError(f"presets.yaml: preset '{name}' names unknown augmentation set '{preset.aug}'")
    return book


def get_preset(name: str) -> Preset:
    book = load_presets()
    if name not in book.presets:
        raise ConfigError(f"unknown preset '{name}'; valid presets: {', '.join(book.presets)}")
    return book.presets[name]


def get_augmentation(name: str) -> AugmentationSet:
    book = load_presets()
    if name not in book.augmentations:
        raise ConfigError(f"unknown augmentation set '{name}'; valid: {', '.join(book.augmentations)}")
    return book.augmentations[name]


def valid_train_keys() -> set[str]:
    """Every argument Ultralytics' trainer accepts (from its default config), minus the reserved ones."""
    from yolocls.core.offline import import_ultralytics

    import_ultralytics()
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return set(DEFAULT_CFG_DICT) - RESERVED_KEYS


def parse_set_values(pairs: list[str], valid: set[str]) -> dict[str, Any]:
    """['lr0=0.01', 'cos_lr=false'] -> {'lr0': 0.01, 'cos_lr': False}; unknown keys are rejected."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set '{pair}': expected KEY=VALUE, e.g. --set lr0=0.01")
        key, raw = (s.strip() for s in pair.split("=", 1))
        if key in RESERVED_KEYS:
            raise ConfigError(f"--set {key}: set by yolocls itself; use the matching flag (--data, --name, "
                              "--device, --weights, --resume) instead")
        if key not in valid:
            raise ConfigError(f"--set {key}: unknown training argument; valid keys: {', '.join(sorted(valid))}")
        try:
            out[key] = yaml.safe_load(raw) if raw else None
        except yaml.YAMLError:
            out[key] = raw
    check_train_args(out, "--set")
    return out


def check_train_args(args: dict[str, Any], origin: str) -> None:
    """Types and ranges as Ultralytics' own `check_cfg` checks them, before any run folder is created;
    `origin` names where the values came from (e.g. '--set')."""
    from yolocls.core.offline import import_ultralytics

    import_ultralytics()
    from ultralytics.cfg import check_cfg

    try:
        check_cfg(dict(args), hard=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    imgsz = args.get("imgsz")
    if "imgsz" in args and (isinstance(imgsz, bool) or not isinstance(imgsz, int) or imgsz < 16):
        raise ConfigError(f"{origin}: imgsz={imgsz!r}: expected a whole number of pixels >= 16, e.g. imgsz=224")


def resolve_args(preset: Preset, aug: str | None, flags: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """preset.args <- augmentation set <- explicit flags (non-None) <- --set overrides."""
    args: dict[str, Any] = dict(preset.args)
    args.update(get_augmentation(aug or preset.aug).args)
    args.update({k: v for k, v in flags.items() if v is not None})
    args.update(overrides)
    return args
