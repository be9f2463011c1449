"""A dataset version built from a labelling snapshot: its images hard-linked into a tree already split (each
image's split was fixed when the version was cut), then `prepare` on that tree, with every check it does, into
the version's own folder. Its files are named `<image id>-<name>`, which maps them back to the images."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from yolocls.core.limits import available_cpus
from yolocls.data.manifest import MANIFEST_NAME, load_manifest
from yolocls.data.prepare import PrepareOptions, PrepareResult, prepare_dataset

SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class SnapshotImage:
    id: int
    name: str
    file: str  # relative to the studio's home
    sha256: str
    label: str | None  # None: not labelled, "": none of these (neither is in the version)
    split: str | None


def read_snapshot(path: Path) -> list[SnapshotImage]:
    with path.open(encoding="utf-8") as fh:
        return [SnapshotImage(**json.loads(line)) for line in fh if line.strip()]


def file_name(image_id: int, name: str) -> str:
    """`<id>-<safe base name>`: unique in any folder, readable, and mapped back to the image by its id."""
    base = SAFE.sub("_", name.rsplit("/", 1)[-1])[-80:] or "image"
    return f"{image_id}-{base}"


def image_id_of(path: str) -> int | None:
    """The image id of a version's file (`train/cat/12-a.png` -> 12)."""
    head = path.rsplit("/", 1)[-1].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def build_version(snapshot: Path, home: Path, out: Path, threshold: int = 4, workers: int | None = None,
                  progress_file: Path | None = None) -> PrepareResult | None:
    """Build the version in `out`; None when `out` was already published (a build finished before a restart)."""
    if (out / MANIFEST_NAME).is_file():
        load_manifest(out)
        return None
    images = [im for im in read_snapshot(snapshot) if im.label and im.split]
    out.parent.mkdir(parents=True, exist_ok=True)
    tree = Path(tempfile.mkdtemp(prefix=f".{out.name}.src-", dir=out.parent))
    try:
        for im in images:
            folder = tree / str(im.split) / str(im.label)
            folder.mkdir(parents=True, exist_ok=True)
            dst = folder / file_name(im.id, im.name)
            try:
                os.link(home / im.file, dst)
            except OSError:
                shutil.copyfile(home / im.file, dst)
        options = PrepareOptions(source=tree, out=out, near_dup_threshold=threshold, progress=False,
                                 workers=workers or available_cpus(), progress_file=progress_file)
        return prepare_dataset(options)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
