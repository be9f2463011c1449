"""A prepared dataset with a fraction of each class's training images and the same val and test images (what a
learning curve trains on). Subsets are nested: for one seed, a smaller fraction's images are all in the larger
fraction's. Files are hard links (copies across filesystems), so a subset costs almost no disk."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

from yolocls.core.errors import DatasetError
from yolocls.core.fs import atomic_write_text, publish_dir, staging_dir
from yolocls.data.manifest import MANIFEST_NAME, DatasetFile, Manifest, load_manifest

DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 1.0)  # a learning curve's points


def subset_counts(manifest: Manifest, fraction: float) -> dict[str, int]:
    """Training images kept per class; a class with too few images for `fraction` is an error naming it."""
    if not 0 < fraction <= 1:
        raise DatasetError(f"fraction {fraction:g}: must be in (0, 1]")
    kept = {}
    for name in manifest.classes:
        n = manifest.counts["train"].get(name, 0)
        kept[name] = round(n * fraction)
        if kept[name] < 1:
            raise DatasetError(f"class '{name}' has {n} training image(s): {fraction:.0%} of them is less than one "
                               "image; use larger fractions or add images to it")
    return kept


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_assigned(dataset: Path, out: Path, assignment: dict[str, str], note: str) -> Manifest:
    """A prepared dataset at `out` (replaced when it exists) holding the files of `dataset` that `assignment` maps
    (a file's path in `dataset` -> its split in the new one), each in its class folder; its manifest."""
    manifest = load_manifest(dataset)
    chosen: list[tuple[DatasetFile, str]] = []
    taken: set[str] = set()
    for f in manifest.files:
        split = assignment.get(f.path)
        if split is None:
            continue
        old_split, label, name = Path(f.path).parts[-3:]
        new = f"{split}/{label}/{name}"
        if new in taken:  # the same name in two splits of the source
            new = f"{split}/{label}/{old_split}-{name}"
        taken.add(new)
        chosen.append((f, new))
    counts: dict[str, dict[str, int]] = {s: {c: 0 for c in manifest.classes} for s in sorted(set(assignment.values()))}
    for _, new in chosen:
        split, label = new.split("/")[:2]
        counts[split][label] += 1
    result = manifest.model_copy(update={
        "files": [f.model_copy(update={"path": new}) for f, new in chosen], "counts": counts,
        "warnings": [*manifest.warnings, note]})
    with staging_dir(out) as tmp:
        for f, new in chosen:
            _link(dataset / f.path, tmp / new)
        for split in counts:  # every class folder, even when a split holds none of its images
            for name in manifest.classes:
                (tmp / split / name).mkdir(parents=True, exist_ok=True)
        atomic_write_text(tmp / MANIFEST_NAME, result.model_dump_json(indent=2))
        publish_dir(tmp, out, overwrite=True)
    return result


def write_subset(dataset: Path, out: Path, fraction: float, seed: int = 0) -> Manifest:
    """Write the subset of `dataset` at `out` (replaced when it exists); its manifest."""
    manifest = load_manifest(dataset)
    kept = subset_counts(manifest, fraction)
    assignment: dict[str, str] = {}
    by_class: dict[str, list[str]] = {}
    for f in manifest.files:
        split, label = Path(f.path).parts[:2]
        if split == "train":
            by_class.setdefault(label, []).append(f.path)
        else:
            assignment[f.path] = split
    for label, paths in by_class.items():
        order = sorted(paths)
        random.Random(f"{seed}:{label}").shuffle(order)  # one order per class: smaller subsets are nested
        assignment.update({path: "train" for path in order[:kept[label]]})
    return write_assigned(dataset, out, assignment,
                          f"a {fraction:.0%} subset of {dataset.name}'s training images (seed {seed})")
