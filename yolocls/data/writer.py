"""The write stage of prepare: unique output names, then hard-link, copy or convert each checked file.

Safety rules (a source file must never be modified):
- output names are unique by construction within a class folder, whatever the source names are;
- every output file is created new (`O_EXCL`): nothing is ever opened for writing through an existing
  path, so a hard link to a user's file can never be written through;
- the bytes written are the bytes that were checked (sha256 verified again) and they are decoded with
  the format the check detected; any failure becomes a skip naming the file, never an abort.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from yolocls.core.imaging import load_rgb8
from yolocls.data.images import ScanResult
from yolocls.data.manifest import DatasetFile
from yolocls.data.sources import SourceItem


@dataclass(frozen=True)
class WriteJob:
    index: int  # the item's index in the collected sources
    src: Path
    dst: Path
    convert: bool
    sha256: str
    fmt: str


@dataclass(frozen=True)
class WriteOutcome:
    index: int
    action: str  # "linked" | "copied" | "converted" | "failed"
    reason: str = ""


def unique_name(taken: set[str], stem: str, ext: str, sha256: str) -> str:
    """`stem.ext`, else `stem_<hash>.ext`, else `stem_<hash>_2.ext`, ...: never a name already taken
    in this folder (compared case-insensitively, for case-insensitive filesystems)."""
    candidates = [f"{stem}{ext}", f"{stem}_{sha256[:10]}{ext}"]
    k = 2
    while True:
        for name in candidates:
            if name.lower() not in taken:
                taken.add(name.lower())
                return name
        candidates = [f"{stem}_{sha256[:10]}_{k}{ext}"]
        k += 1


def plan_files(items: list[SourceItem], scans: list[ScanResult], assignment: dict[int, str], stage: Path
               ) -> tuple[list[DatasetFile], list[WriteJob]]:
    """Manifest entries and write jobs; items in source-path order, so names are deterministic."""
    taken: dict[tuple[str, str], set[str]] = defaultdict(set)
    files: list[DatasetFile] = []
    jobs: list[WriteJob] = []
    for i in sorted(assignment, key=lambda k: items[k].rel):
        item, scan, split = items[i], scans[i], assignment[i]
        name = unique_name(taken[(split, item.label)], Path(item.rel).stem or "image", scan.out_ext, scan.sha256)
        rel_out = f"{split}/{item.label}/{name}"
        files.append(DatasetFile(path=rel_out, source=item.rel, sha256=scan.sha256, converted=scan.convert))
        jobs.append(WriteJob(i, item.path, stage / rel_out, scan.convert, scan.sha256, scan.fmt))
    return sorted(files, key=lambda f: f.path), jobs


def _convert(job: WriteJob, data: bytes) -> None:
    im = Image.open(io.BytesIO(data), formats=[job.fmt] if job.fmt else None)
    rgb = load_rgb8(im, job.src.name, data)
    with open(job.dst, "xb") as fh:
        if job.dst.suffix == ".jpg":
            rgb.save(fh, "JPEG", quality=95, subsampling=0)
        else:
            rgb.save(fh, "PNG")


def _link_or_copy(job: WriteJob, data: bytes) -> str:
    try:
        os.link(job.src, job.dst)  # fails if dst exists: never replaces anything
        return "linked"
    except FileExistsError:
        raise
    except OSError:
        with open(job.dst, "xb") as fh:
            fh.write(data)
        return "copied"


def write_one(job: WriteJob) -> WriteOutcome:
    """Write one file (runs in a worker process); a problem with this file is returned, not raised."""
    try:
        data = job.src.read_bytes()
        if hashlib.sha256(data).hexdigest() != job.sha256:
            return WriteOutcome(job.index, "failed", "changed while prepare was running; run prepare again")
        if job.convert:
            _convert(job, data)
            return WriteOutcome(job.index, "converted")
        return WriteOutcome(job.index, _link_or_copy(job, data))
    except FileExistsError:
        return WriteOutcome(job.index, "failed", f"output name {job.dst.name} already taken (not overwritten)")
    except Exception as exc:  # any decoder/encoder/OS failure: this file is skipped, the dataset is not
        job.dst.unlink(missing_ok=True)  # only ever a file this job created (O_EXCL) or a link of its own
        reason = str(exc).split(": ", 1)[-1] if str(exc).startswith(job.src.name) else f"{type(exc).__name__}: {exc}"
        return WriteOutcome(job.index, "failed", f"cannot write converted image: {reason}")
