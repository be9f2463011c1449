"""Splits that stay put from one dataset version to the next: an image keeps the split it was given, images new
to a version join their near-duplicate group's split when it has one, and the rest are dealt per class to the
split furthest below its share, so every class stays stratified (and gets a val and test image first)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Entry(Generic[K]):
    key: K
    label: str
    group: str
    split: str | None  # kept from an earlier version, or None


def _choose(counts: dict[str, int], ratios: dict[str, float], size: int) -> str:
    """The split for the next group of a class: an empty held-out split once train has an image, else the one
    furthest below its share of the class."""
    if counts.get("train", 0) > 0:
        for split in ratios:
            if split != "train" and counts.get(split, 0) == 0:
                return split
    total = sum(counts.values()) + size
    return max(ratios, key=lambda s: (ratios[s] * total - counts.get(s, 0), s == "train"))


def assign_stable(entries: Sequence[Entry[K]], ratios: dict[str, float], seed: int = 0) -> dict[K, str]:
    """Every entry's split: its own when it has one, else its group's, else dealt as the module says."""
    group_split: dict[str, str] = {}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in entries:
        if e.split is not None:
            group_split.setdefault(e.group, e.split)
            counts[e.label][e.split] += 1
    out: dict[K, str] = {}
    new_groups: dict[str, list[Entry[K]]] = defaultdict(list)
    for e in entries:
        if e.split is not None:
            out[e.key] = e.split
        elif e.group in group_split:
            out[e.key] = group_split[e.group]
            counts[e.label][out[e.key]] += 1
        else:
            new_groups[e.group].append(e)
    by_class: dict[str, list[str]] = defaultdict(list)
    for group, members in new_groups.items():
        by_class[members[0].label].append(group)
    for label in sorted(by_class):
        groups = sorted(by_class[label])
        random.Random(f"{seed}:{label}").shuffle(groups)
        for group in groups:
            split = _choose(counts[label], ratios, len(new_groups[group]))
            for e in new_groups[group]:
                out[e.key] = split
                counts[e.label][split] += 1
    _fill_empty(entries, out, counts, ratios)
    return out


def _fill_empty(entries: Sequence[Entry[K]], out: dict[K, str], counts: dict[str, dict[str, int]],
                ratios: dict[str, float]) -> None:
    """A class left with no image in a held-out split (its only test image relabelled, say) gets one train
    group moved there, the last one added: the one exception to "an image keeps its split"."""
    for label in sorted(counts):
        for split in (s for s in ratios if s != "train"):
            if counts[label].get(split, 0) or counts[label].get("train", 0) < 2:
                continue
            groups: dict[str, list[Entry[K]]] = defaultdict(list)
            for e in entries:
                groups[e.group].append(e)
            movable = [g for g, members in groups.items() if all(out[m.key] == "train" and m.label == label
                                                                  for m in members)]
            if not movable:
                continue
            chosen = max(movable, key=lambda g: (any(m.split is None for m in groups[g]), g))
            for m in groups[chosen]:
                out[m.key] = split
                counts[label]["train"] -= 1
                counts[label][split] += 1
