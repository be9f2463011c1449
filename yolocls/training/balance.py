"""Imbalanced classes: `--balance none | weights | sampler | auto`.

- `weights`: class-weighted cross-entropy, the weights from the training split's counts with scikit-learn's
  "balanced" rule (n_images / (n_classes * n_class_images)), written to run.json.
- `sampler`: class-balanced sampling (random over-sampling): an epoch draws as many images of every class as the
  largest class has, each class's from its own images at random (minority images repeat; every majority image is
  still seen about once an epoch, so epochs grow to n_classes x the largest count).
- `auto` (the default): `weights` when the largest class has over 3x the images of the smallest, else `none`.

The choice is made once per run (`resolve_balance`) and read back by the trainer from run.json in whatever
process trains (DDP ranks included); the trainer applies it through Ultralytics' own hooks.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import BaseModel, Field

from yolocls.core.errors import ConfigError

BalanceMode = Literal["none", "weights", "sampler"]
MODES = ("auto", "none", "weights", "sampler")
AUTO_RATIO = 3.0  # auto: weights above this largest/smallest class ratio


class BalanceRecord(BaseModel):
    """How a run handled class imbalance (run.json `balance`)."""

    requested: str = Field(description="auto | none | weights | sampler, as asked")
    mode: BalanceMode = Field(description="What the run did")
    ratio: float = Field(description="Largest / smallest class in the training split")
    weights: list[float] | None = Field(default=None, description="Per-class loss weights (mode weights)")


def check_mode(value: str, where: str = "--balance") -> str:
    if value not in MODES:
        raise ConfigError(f"{where}: unknown '{value}'; valid: {', '.join(MODES)}")
    return value


def resolve_balance(requested: str, classes: list[str], train_counts: dict[str, int]) -> BalanceRecord:
    """The run's choice for its training split's counts (every class has at least one image: prepare checks)."""
    check_mode(requested)
    counts = [int(train_counts.get(c, 0)) for c in classes]
    ratio = max(counts) / max(1, min(counts))
    mode: BalanceMode = ("weights" if ratio > AUTO_RATIO else "none") if requested == "auto" else requested  # type: ignore[assignment]
    weights = None
    if mode == "weights":
        import numpy as np
        from sklearn.utils.class_weight import compute_class_weight

        labels = np.repeat(np.arange(len(classes)), counts)
        weights = [round(float(w), 6) for w in compute_class_weight("balanced", classes=np.arange(len(classes)),
                                                                     y=labels)]
    return BalanceRecord(requested=requested, mode=mode, ratio=round(ratio, 3), weights=weights)


def describe(record: BalanceRecord) -> str:
    """The run's first-lines message."""
    why = f"largest class {record.ratio:g}x the smallest"
    chosen = f"auto -> {record.mode} ({why}; auto weights above {AUTO_RATIO:g}x)" if record.requested == "auto" \
        else f"{record.mode} ({why})"
    extra = f"; loss weights {', '.join(f'{w:.3g}' for w in record.weights)}" if record.weights else ""
    return f"class balance: {chosen}{extra}"


class BalancedSampling:
    """A training dataset seen through class-balanced draws: an epoch holds n_classes x the largest class's count
    items, item i is a random image of class i mod n_classes (Ultralytics' loader shuffles and batches them)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self.by_class: dict[int, list[int]] = {}
        for index, sample in enumerate(dataset.samples):
            self.by_class.setdefault(int(sample[1]), []).append(index)
        self.classes = sorted(self.by_class)

    def __len__(self) -> int:
        return len(self.classes) * max(len(pool) for pool in self.by_class.values())

    def draw(self, index: int) -> int:
        """Python's `random`, which Ultralytics seeds in every loader worker (each draws its own sequence)."""
        pool = self.by_class[self.classes[index % len(self.classes)]]
        return pool[random.randrange(len(pool))]

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.draw(index)]

    def __getattr__(self, name: str) -> Any:  # samples, transforms, ...: the wrapped dataset's
        if name == "dataset":  # not set yet (while unpickling)
            raise AttributeError(name)
        return getattr(self.dataset, name)
