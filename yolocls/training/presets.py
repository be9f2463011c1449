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


def known_train_keys() -> set[str]:
    """The training arguments Ultralytics accepts, read from its default.yaml without importing it (for
    processes that must not load torch, like the studio's web server), minus the reserved ones."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("ultralytics")
    if spec is None or spec.origin is None:
        raise ConfigError("Ultralytics is not installed")
    default = Path(spec.origin).parent / "cfg" / "default.yaml"
    return set(yaml.safe_load(default.read_text(encoding="utf-8"))) - RESERVED_KEYS


def resolve_args(preset: Preset, aug: str | None, flags: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """preset.args <- augmentation set <- explicit flags (non-None) <- --set overrides."""
    args: dict[str, Any] = dict(preset.args)
    args.update(get_augmentation(aug or preset.aug).args)
    args.update({k: v for k, v in flags.items() if v is not None})
    args.update(overrides)
    return args
