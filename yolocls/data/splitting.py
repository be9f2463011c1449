"""Stratified, deterministic assignment of duplicate-safe groups to train/val/test."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence

from yolocls.core.errors import DatasetError, SourceError
from yolocls.data.sources import SourceItem

MIN_IMAGES_PER_CLASS = 30
MAX_IMBALANCE = 10.0


def parse_ratios(text: str) -> dict[str, float]:
    """'0.8,0.1,0.1' -> {'train': .8, 'val': .1, 'test': .1}; '0.8,0.2' has no test split. '80,20' works too."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise SourceError(f"--split '{text}': expected 2 or 3 numbers like 0.8,0.1,0.1") from None
    if len(values) not in (2, 3) or not all(math.isfinite(v) and v > 0 for v in values):
        raise SourceError(f"--split '{text}': expected 2 or 3 positive numbers (train,val[,test])")
    total = sum(values)
    if abs(total - 100) < 1e-6:
        values = [v / 100 for v in values]
    elif abs(total - 1) > 1e-6:
        raise SourceError(f"--split '{text}': ratios add up to {total:g}; they must add up to 1 (or 100)")
    return dict(zip(("train", "val", "test"), values, strict=False))


def assign_groups(groups: Sequence[Sequence[int]], labels: Sequence[str], ratios: dict[str, float],
                  seed: int) -> dict[int, str]:
    """Map item index -> split. Each group (all one label) goes whole to one split.

    Per class, groups are shuffled with a generator seeded by (seed, class), so adding a class does
    not reshuffle the others; val/test are filled to their share of images (at least one group each).
    """
    by_class: dict[str, list[Sequence[int]]] = defaultdict(list)
    for group in groups:
        by_class[labels[group[0]]].append(group)
    held_out = [s for s in ("val", "test") if s in ratios]
    assignment: dict[int, str] = {}
    for label in sorted(by_class):
        class_groups = sorted(by_class[label], key=lambda g: min(g))
        n_images = sum(len(g) for g in class_groups)
        if len(class_groups) < 1 + len(held_out):
            raise DatasetError(f"class '{label}' has {n_images} usable image(s) ({len(class_groups)} distinct); "
                               f"needs at least {1 + len(held_out)} to appear in every split "
                               f"({', '.join(['train', *held_out])}). Add images or drop the class")
        random.Random(f"{seed}:{label}").shuffle(class_groups)
        pos = 0
        for split in held_out:
            target = max(1, round(n_images * ratios[split]))
            got = 0
            # leave at least one group for every split still to fill
            remaining_splits = 1 + len(held_out) - held_out.index(split) - 1
            while pos < len(class_groups) - remaining_splits and (got == 0 or got < target):
                for i in class_groups[pos]:
                    assignment[i] = split
                got += len(class_groups[pos])
                pos += 1
        for group in class_groups[pos:]:
            for i in group:
                assignment[i] = "train"
    return assignment


def presplit_assignment(units: list[list[int]], items: list[SourceItem]) -> tuple[dict[int, str], list[str]]:
    """Keep the source's split; a duplicate group spanning splits moves whole into its earliest one."""
    order = {"train": 0, "val": 1, "test": 2}
    assignment: dict[int, str] = {}
    moved = 0
    for unit in units:
        splits = {items[i].split or "train" for i in unit}
        target = min(splits, key=order.__getitem__)
        moved += len(splits) > 1
        for i in unit:
            assignment[i] = target
    warnings = [f"{moved} duplicate group(s) spanned source splits; each was moved whole into "
                "its earliest split (train > val > test) to avoid leakage"] if moved else []
    return assignment, warnings


def check_class_sets(counts: dict[str, dict[str, int]], classes: list[str]) -> None:
    for split, per_class in counts.items():
        for label in classes:
            if per_class.get(label, 0) == 0:
                total = sum(c.get(label, 0) for c in counts.values())
                raise DatasetError(f"class '{label}' has no images in the {split} split ({total} usable in all); "
                                   "every class needs at least one image in every split (Ultralytics indexes "
                                   "each split's folders separately). Add images or drop the class")


def balance_warnings(totals: Counter[str]) -> list[str]:
    warnings = [f"class '{c}' has only {n} images (< {MIN_IMAGES_PER_CLASS}); expect unreliable accuracy for it"
                for c, n in sorted(totals.items()) if n < MIN_IMAGES_PER_CLASS]
    largest, smallest = max(totals.values()), min(totals.values())
    if smallest and largest / smallest > MAX_IMBALANCE:
        big = max(totals, key=lambda c: totals[c])
        small = min(totals, key=lambda c: totals[c])
        warnings.append(f"class imbalance {largest / smallest:.1f}x: '{big}' has {largest} images, "
                        f"'{small}' has {smallest}; consider collecting more or weighting")
    return warnings
