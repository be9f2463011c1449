"""The write stage of prepare: deterministic output names, then hard-link, copy or convert each file."""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from yolocls.data.images import ScanResult, write_normalised
from yolocls.data.manifest import DatasetFile
from yolocls.data.sources import SourceItem


@dataclass(frozen=True)
class WriteJob:
    src: Path
    dst: Path
    convert: bool


def _unique_name(taken: set[str], item: SourceItem, scan: ScanResult) -> str:
    stem = Path(item.rel).stem or "image"
    name = f"{stem}{scan.out_ext}"
    if name.lower() in taken:
        name = f"{stem}_{scan.sha256[:10]}{scan.out_ext}"
    taken.add(name.lower())
    return name


def plan_files(items: list[SourceItem], scans: list[ScanResult], assignment: dict[int, str], stage: Path
               ) -> tuple[list[DatasetFile], list[WriteJob]]:
    """Manifest entries and write jobs; items in source-path order, name collisions get a hash suffix."""
    taken: dict[tuple[str, str], set[str]] = defaultdict(set)
    files: list[DatasetFile] = []
    jobs: list[WriteJob] = []
    for i in sorted(assignment, key=lambda k: items[k].rel):
        item, scan, split = items[i], scans[i], assignment[i]
        name = _unique_name(taken[(split, item.label)], item, scan)
        rel_out = f"{split}/{item.label}/{name}"
        files.append(DatasetFile(path=rel_out, source=item.rel, sha256=scan.sha256, converted=scan.convert))
        jobs.append(WriteJob(item.path, stage / rel_out, scan.convert))
    return sorted(files, key=lambda f: f.path), jobs


def _link_or_copy(src: Path, dst: Path) -> str:
    try:
        os.link(src, dst)
        return "linked"
    except OSError:
        shutil.copyfile(src, dst)
        return "copied"


def write_one(job: WriteJob) -> str:
    """'converted' | 'linked' | 'copied' (runs in a worker process)."""
    if job.convert:
        write_normalised(job.src, job.dst)
        return "converted"
    return _link_or_copy(job.src, job.dst)
