"""Stratified, deterministic assignment of duplicate-safe groups to train/val/test."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from yolocls.errors import DatasetError, SourceError


def parse_ratios(text: str) -> dict[str, float]:
    """'0.8,0.1,0.1' -> {'train': .8, 'val': .1, 'test': .1}; '0.8,0.2' has no test split. '80,20' works too."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise SourceError(f"--split '{text}': expected 2 or 3 numbers like 0.8,0.1,0.1") from None
    if len(values) not in (2, 3) or any(v <= 0 for v in values):
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
