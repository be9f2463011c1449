"""A sweep's search space, loaded and checked (torch-free: the studio's web process checks a request's space)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from yolocls.core.errors import ConfigError
from yolocls.training.hyperparams import ALLOWED_KEYS, check_hyperparams
from yolocls.training.presets import SearchSpace, load_presets

DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice")


def load_space(space: str | dict[str, dict[str, list[Any]]]) -> SearchSpace:
    """A named space (presets.yaml or YOLOCLS_PRESETS), a YAML file, or the params given as data; every parameter
    and distribution checked."""
    if isinstance(space, dict):
        given = SearchSpace(params=space)
        check_space(given, "space")
        return given
    path = Path(space).expanduser()
    if path.suffix in (".yaml", ".yml") or path.is_file():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"--space {space}: cannot read it ({exc})") from None
        chosen = SearchSpace.model_validate(data if "params" in data else {"params": data})
    else:
        spaces = load_presets().search_spaces
        if space not in spaces:
            raise ConfigError(f"--space: unknown '{space}'; valid: {', '.join(spaces)} (or a .yaml file)")
        chosen = spaces[space]
    check_space(chosen, f"--space {space}")
    return chosen


def check_space(space: SearchSpace, origin: str) -> None:
    if not space.params:
        raise ConfigError(f"{origin}: the search space is empty; give at least one parameter (e.g. lr0)")
    for name, dim in space.params.items():
        if name != "aug" and name not in ALLOWED_KEYS:
            raise ConfigError(f"{origin}: '{name}' is not a training argument (see `yolocls presets`) or `aug`")
        if len(dim) != 1 or next(iter(dim)) not in DISTRIBUTIONS:
            raise ConfigError(f"{origin}: {name}: give one of {', '.join(DISTRIBUTIONS)}, e.g. "
                              f"{{loguniform: [0.0001, 0.01]}}")
        kind, values = next(iter(dim.items()))
        if kind != "choice" and (len(values) != 2 or not values[0] < values[1]):
            raise ConfigError(f"{origin}: {name}: {kind} needs [low, high] with low < high")
        if kind == "choice" and not values:
            raise ConfigError(f"{origin}: {name}: choice needs at least one value")
        for value in values:
            if name == "aug":
                if value not in load_presets().augmentations:
                    raise ConfigError(f"{origin}: aug: unknown augmentation set '{value}'")
            else:
                check_hyperparams({name: value}, f"{origin}:")
