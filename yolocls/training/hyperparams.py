"""The training options a user may set (`--set KEY=VALUE`, the studio's `set`, presets.yaml): an allowlist of
scalar hyper-parameters with types and bounds. Nothing here is ever a path, a module or a file to load:
Ultralytics unpickles path-valued arguments (`pretrained`, `cfg`, `resume`, `distill_model`, ...), so a
client-supplied argument set is this allowlist, never "any Ultralytics key". Imports no Ultralytics/torch
(the studio's web process validates requests with it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from yolocls.core.errors import ConfigError

# Bounds shared with the named flags (--epochs/--imgsz/--batch, the studio's top-level fields).
EPOCHS_MAX, IMGSZ_MIN, IMGSZ_MAX, BATCH_MAX = 10_000, 16, 4096, 4096

Fraction = Field(default=None, ge=0.0, le=1.0)


class Hyperparams(BaseModel):
    """Every key `--set` / `set` accepts. Values are strict scalars: a string is never coerced to a number."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # schedule
    epochs: int | None = Field(default=None, ge=1, le=EPOCHS_MAX)
    patience: int | None = Field(default=None, ge=0, le=EPOCHS_MAX)
    batch: int | None = Field(default=None, ge=1, le=BATCH_MAX)
    imgsz: int | None = Field(default=None, ge=IMGSZ_MIN, le=IMGSZ_MAX)
    time: float | None = Field(default=None, gt=0, le=10_000, description="hours; overrides epochs")
    fraction: float | None = Field(default=None, gt=0.0, le=1.0)
    save_period: int | None = Field(default=None, ge=-1, le=EPOCHS_MAX)
    workers: int | None = Field(default=None, ge=0, le=64)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    deterministic: bool | None = None
    amp: bool | None = None
    val: bool | None = None
    plots: bool | None = None
    # optimiser
    optimizer: Literal["SGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSProp", "auto"] | None = None
    lr0: float | None = Field(default=None, gt=0.0, le=10.0)
    lrf: float | None = Field(default=None, gt=0.0, le=1.0)
    momentum: float | None = Fraction
    weight_decay: float | None = Field(default=None, ge=0.0, le=1.0)
    warmup_epochs: float | None = Field(default=None, ge=0.0, le=EPOCHS_MAX)
    warmup_momentum: float | None = Fraction
    warmup_bias_lr: float | None = Field(default=None, ge=0.0, le=10.0)
    cos_lr: bool | None = None
    nbs: int | None = Field(default=None, ge=1, le=BATCH_MAX)
    label_smoothing: float | None = Fraction
    dropout: float | None = Fraction
    # augmentation
    hsv_h: float | None = Fraction
    hsv_s: float | None = Fraction
    hsv_v: float | None = Fraction
    degrees: float | None = Field(default=None, ge=0.0, le=180.0)
    translate: float | None = Fraction
    scale: float | None = Fraction
    shear: float | None = Field(default=None, ge=0.0, le=180.0)
    perspective: float | None = Field(default=None, ge=0.0, le=0.001)
    flipud: float | None = Fraction
    fliplr: float | None = Fraction
    erasing: float | None = Field(default=None, ge=0.0, le=0.9)
    auto_augment: Literal["randaugment", "autoaugment", "augmix"] | None = None


ALLOWED_KEYS: frozenset[str] = frozenset(Hyperparams.model_fields)


# Keys yolocls applies itself, never passed to Ultralytics: its 8.4 release dropped `label_smoothing` (with a
# warning, doing nothing); the trainer's loss (`training.trainer.RunLoss`) smooths the labels instead.
YOLOCLS_KEYS = frozenset({"label_smoothing"})


def ultralytics_args(args: dict[str, Any]) -> dict[str, Any]:
    """The training arguments to hand Ultralytics: `args` less the keys yolocls applies itself."""
    return {k: v for k, v in args.items() if k not in YOLOCLS_KEYS}


NULLABLE_KEYS = frozenset({"auto_augment"})  # null means "off" there; elsewhere a value is required
# Keys yolocls sets itself from its own flags (never from --set / set).
RESERVED_KEYS = frozenset({"data", "project", "name", "exist_ok", "resume", "device", "model", "mode", "task"})


def _key_error(key: str, origin: str) -> str:
    if key in RESERVED_KEYS:
        return (f"{origin} {key}: set by yolocls itself; use the matching flag or field (data, name, device, "
                "weights, resume) instead")
    return (f"{origin} {key}: unknown training argument (or one that names a file, which is never accepted); "
            f"valid keys: {', '.join(sorted(ALLOWED_KEYS))}")


def check_hyperparams(values: dict[str, Any], origin: str) -> dict[str, Any]:
    """`values` as given when every key is allowed and every value has its type and bounds; else a
    ConfigError naming `origin` (e.g. '--set', 'set') and the key. Ints are accepted where floats are."""
    for key in values:
        if key not in ALLOWED_KEYS:
            raise ConfigError(_key_error(str(key), origin))
        if values[key] is None and key not in NULLABLE_KEYS:
            raise ConfigError(f"{origin} {key}: a value is required (e.g. {key}=...)")
    try:
        Hyperparams.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "value"
        raise ConfigError(f"{origin} {key}={err.get('input')!r}: {err['msg']}") from None
    return dict(values)


def parse_device(requested: str | None, origin: str = "--device") -> str:
    """The one syntax check of a device, for the CLI and the API alike (torch-free; whether the GPUs exist is
    `training.device.resolve_device`'s job): 'auto' | 'cpu' | GPU ids '0', '0,1', 'cuda:0' -> 'auto', 'cpu',
    '0,1'."""
    text = (requested or "auto").strip().lower()
    if text in ("auto", "cpu"):
        return text
    ids = [part.strip().removeprefix("cuda:") for part in text.removeprefix("cuda:").split(",")]
    if not ids or not all(i.isdigit() and len(i) <= 3 for i in ids) or len(set(ids)) != len(ids):
        raise ConfigError(f"{origin} '{(requested or '')[:64]}': expected auto, cpu, or GPU ids like 0, 0,1 or "
                          "cuda:0")
    return ",".join(str(int(i)) for i in ids)
