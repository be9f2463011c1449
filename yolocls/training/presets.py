"""Training presets and augmentation sets (loaded from presets.yaml) and the argument resolution rules."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, Field

from yolocls.core.errors import ConfigError
from yolocls.training.balance import check_mode
from yolocls.training.hyperparams import check_hyperparams


class AugmentationSet(BaseModel):
    description: str
    args: dict[str, Any]


class Preset(BaseModel):
    description: str
    model: str = Field(description="Ultralytics model name without suffix, e.g. yolov8n-cls")
    aug: str = Field(description="Name of an augmentation set")
    balance: str = Field(default="auto", description="Class imbalance: auto | none | weights | sampler")
    args: dict[str, Any] = Field(description="Ultralytics training arguments")


class PresetBook(BaseModel):
    augmentations: dict[str, AugmentationSet]
    presets: dict[str, Preset]


@lru_cache(maxsize=1)
def load_presets() -> PresetBook:
    text = resources.files("yolocls.training").joinpath("presets.yaml").read_text(encoding="utf-8")
    book = PresetBook.model_validate(yaml.safe_load(text))
    for name, preset in book.presets.items():
        check_mode(preset.balance, f"presets.yaml: preset '{name}': balance")
        if preset.aug not in book.augmentations:
            raise ConfigError(f"presets.yaml: preset '{name}' names unknown augmentation set '{preset.aug}'")
        check_hyperparams(preset.args, f"presets.yaml: preset '{name}':")
    for name, aug in book.augmentations.items():
        check_hyperparams(aug.args, f"presets.yaml: augmentation set '{name}':")
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


def resolve_args(preset: Preset, aug: str | None, flags: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """preset.args <- augmentation set <- explicit flags (non-None) <- --set overrides."""
    args: dict[str, Any] = dict(preset.args)
    args.update(get_augmentation(aug or preset.aug).args)
    args.update({k: v for k, v in flags.items() if v is not None})
    args.update(overrides)
    return args
