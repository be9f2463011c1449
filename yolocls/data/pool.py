"""Images to label: every file of an upload checked under prepare's decoding contract, exact copies collapsed
into one image, near-duplicates given one group (kept together when splits are assigned), and the bytes kept
by content (`<pool>/ab/abcdef….ext`), ready to be hard-linked into every dataset version."""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from yolocls.core.fs import atomic_write_text
from yolocls.core.limits import DEFAULT_MAX_PIXELS
from yolocls.core.parallel import parallel_map
from yolocls.core.progress import progress_reporter
from yolocls.data.duplicates import group_duplicates
from yolocls.data.images import scan_image
from yolocls.data.labelcsv import LabelRow, match_rows, parse_label_csv
from yolocls.data.manifest import SkippedFile
from yolocls.data.sources import find_labels, ignore_reason
from yolocls.data.walk import walk_files

IMAGES_FILE = "images.jsonl"  # one PoolImage per line, written last: the pool is complete when it exists
SCAN_FILE = "scan.json"  # skipped files, collapsed copies, warnings


@dataclass(frozen=True)
class PoolImage:
    name: str  # its path relative to the upload: what a labels CSV names
    file: str  # its path inside the pool
    sha256: str
    group: str  # the images of a near-duplicate group share it (the sha256 of the group's first image)
    label: str | None
    width: int
    height: int


@dataclass
class PoolScan:
    images: list[PoolImage]
    skipped: list[SkippedFile]
    copies: dict[str, list[str]] = field(default_factory=dict)  # kept name -> the names of its exact copies
    warnings: list[str] = field(default_factory=list)


def _labels(root: Path, csv_bytes: bytes | None) -> tuple[Path, list[LabelRow], str | None]:
    """The folder names are relative to and the partial labels: an uploaded CSV, else one inside the upload."""
    if csv_bytes is not None:
        return root, parse_label_csv(csv_bytes, "labels"), None
    base, found = find_labels(root)
    if found is None:
        return root, [], None
    return base, parse_label_csv(found.read_bytes(), found.name), found.relative_to(base).as_posix()


def _store(src: Path, pool: Path, sha: str) -> str:
    """The file's bytes in the pool by content (hard-linked when possible); its path inside the pool."""
    ext = src.suffix.lower()[:10] if src.suffix else ".img"
    rel = f"{sha[:2]}/{sha}{ext}"
    dst = pool / rel
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    return rel


def scan_pool(root: Path, pool: Path, csv_bytes: bytes | None = None, threshold: int = 4,
              max_pixels: int = DEFAULT_MAX_PIXELS, workers: int = 1, progress_file: Path | None = None,
              sidecars: str | None = None) -> PoolScan:
    """Check every file below `root` and store the usable ones in `pool` (see the module's docstring); files
    ending with `sidecars` (e.g. ".json": a captured image's prediction) are neither images nor reported."""
    base, rows, csv_name = _labels(root, csv_bytes) if sidecars is None else (root, [], None)
    skipped, files = [], []
    for found in walk_files(base):
        reason = ignore_reason(found.parts)
        if found.rel == csv_name or (sidecars and found.rel.endswith(sidecars)):
            continue
        if reason:
            skipped.append(SkippedFile(path=found.rel, reason=reason))
        else:
            files.append(found)
    scans = parallel_map(partial(scan_image, max_pixels=max_pixels), [f.path for f in files], workers,
                         "checking", False, progress_reporter(progress_file, "checking"))
    first: dict[str, int] = {}
    copies: dict[str, list[str]] = defaultdict(list)
    for i, (found, scan) in enumerate(zip(files, scans)):
        if not scan.ok:
            skipped.append(SkippedFile(path=found.rel, reason=scan.reason or ""))
        elif scan.sha256 in first:
            copies[files[first[scan.sha256]].rel].append(found.rel)
        else:
            first[scan.sha256] = i
    kept = list(first.values())
    matched, unmatched = match_rows(rows, [f.rel for f in files])
    result = PoolScan(images=[], skipped=sorted(skipped, key=lambda s: s.path), copies=dict(copies))
    result.warnings += [f"labels line {r.line}: '{r.filename}': {why}" for r, why in unmatched[:20]]
    if len(unmatched) > 20:
        result.warnings.append(f"labels: {len(unmatched) - 20} more rows name no image")
    group_of = {i: scans[i].sha256 for i in kept}
    for group in group_duplicates([scans[i].sha256 for i in kept], [scans[i].dhash for i in kept], threshold):
        for member in group:
            group_of[kept[member]] = scans[kept[group[0]]].sha256
    for i in kept:
        name, scan = files[i].rel, scans[i]
        labels = {matched[n].label for n in (name, *copies.get(name, ())) if n in matched}
        if len(labels) > 1:
            result.warnings.append(f"'{name}' and its exact copies are labelled {sorted(labels)}; left unlabelled")
        label = labels.pop() if len(labels) == 1 else None
        result.images.append(PoolImage(name, _store(files[i].path, pool, scan.sha256), scan.sha256, group_of[i],
                                       label, scan.width, scan.height))
    return result


def write_pool(scan: PoolScan, pool: Path) -> None:
    """The scan's record beside the pool: the image list last (its presence says the pool is complete)."""
    atomic_write_text(pool / SCAN_FILE, json.dumps({"skipped": [s.model_dump() for s in scan.skipped],
                                                    "copies": scan.copies, "warnings": scan.warnings}))
    atomic_write_text(pool / IMAGES_FILE, "".join(json.dumps(asdict(im)) + "\n" for im in scan.images))


def read_pool(pool: Path) -> list[PoolImage]:
    with (pool / IMAGES_FILE).open(encoding="utf-8") as fh:
        return [PoolImage(**json.loads(line)) for line in fh if line.strip()]
