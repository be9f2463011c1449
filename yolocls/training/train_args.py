"""Training arguments: `--set KEY=VALUE` parsing against the allowlist (`hyperparams`), and the resolved
argument set checked by Ultralytics itself (imports Ultralytics, so it is kept apart from the preset book,
which the studio's web process reads)."""

from __future__ import annotations

from typing import Any

import yaml

from yolocls.core.errors import ConfigError
from yolocls.training.hyperparams import check_hyperparams


def _number(value: Any) -> Any:
    """YAML 1.1 reads `1e-3` as a string: numbers written that way are numbers here."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_set_values(pairs: list[str]) -> dict[str, Any]:
    """['lr0=0.01', 'cos_lr=false'] -> {'lr0': 0.01, 'cos_lr': False}; only allowlisted keys, each with its
    type and bounds (`hyperparams.Hyperparams`)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set '{pair}': expected KEY=VALUE, e.g. --set lr0=0.01")
        key, raw = (s.strip() for s in pair.split("=", 1))
        try:
            out[key] = _number(yaml.safe_load(raw)) if raw else None
        except yaml.YAMLError:
            out[key] = raw
    check_hyperparams(out, "--set")
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
