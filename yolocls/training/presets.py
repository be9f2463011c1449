"""Training presets, augmentation sets and sweep search spaces (loaded from presets.yaml, then from the files named
by YOLOCLS_PRESETS, whose entries add to or replace the built-in ones) and the argument resolution rules."""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
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


class SearchSpace(BaseModel):
    """A sweep's search space: parameter -> {loguniform|uniform: [low, high]} | {randint: [low, high]} |
    {choice: [values]}; parameters are training arguments (`yolocls presets` lists them) or `aug`."""

    description: str = ""
    params: dict[str, dict[str, list[Any]]]


class PresetBook(BaseModel):
    augmentations: dict[str, AugmentationSet]
    presets: dict[str, Preset]
    search_spaces: dict[str, SearchSpace] = Field(default_factory=dict)


USER_PRESETS_ENV = "YOLOCLS_PRESETS"


def _user_files() -> list[Path]:
    return [Path(p).expanduser() for p in os.environ.get(USER_PRESETS_ENV, "").split(os.pathsep) if p.strip()]


def _read_book(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping with presets:, augmentations: or search_spaces:")
    return data


@lru_cache(maxsize=4)
def _load(user_files: tuple[Path, ...]) -> PresetBook:
    text = resources.files("yolocls.training").joinpath("presets.yaml").read_text(encoding="utf-8")
    merged = _read_book(text, "presets.yaml")
    for path in user_files:  # a preset file the user owns (e.g. a sweep's best_preset.yaml)
        try:
            user = _read_book(path.read_text(encoding="utf-8"), str(path))
        except OSError as exc:
            raise ConfigError(f"{USER_PRESETS_ENV}: cannot read {path}: {exc.strerror}") from None
        for section in ("augmentations", "presets", "search_spaces"):
            merged[section] = {**merged.get(section, {}), **(user.get(section) or {})}
    try:
        book = PresetBook.model_validate(merged)
    except ValueError as exc:
        raise ConfigError(f"presets ({USER_PRESETS_ENV} files included): {str(exc).splitlines()[0]} "
                          f"{str(exc).splitlines()[1:2]}") from None
    for name, preset in book.presets.items():
        check_mode(preset.balance, f"presets.yaml: preset '{name}': balance")
        if preset.aug not in book.augmentations:
            raise ConfigError(f"presets.yaml: preset '{name}' names unknown augmentation set '{preset.aug}'")
        check_hyperparams(preset.args, f"presets.yaml: preset '{name}':")
    for name, aug in book.augmentations.items():
        check_hyperparams(aug.args, f"presets.yaml: augmentation set '{name}':")
    return book


def load_presets() -> PresetBook:
    return _load(tuple(_user_files()))


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
