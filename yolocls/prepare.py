"""`yolocls prepare`: any labelled-image source -> a checked YOLOv8 classification dataset, atomically."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Literal, TypeVar, cast

from pydantic import BaseModel, Field
from tqdm import tqdm

from yolocls import __version__
from yolocls.archive import extract_archive, is_archive
from yolocls.errors import DatasetError, SourceError
from yolocls.grouping import group_duplicates
from yolocls.images import DEFAULT_MAX_PIXELS, ScanResult, scan_image, write_normalised
from yolocls.manifest import MANIFEST_NAME, DatasetFile, DuplicateGroup, Manifest, SkippedFile
from yolocls.sources import SourceItem, collect
from yolocls.splitting import assign_groups, parse_ratios

MIN_IMAGES_PER_CLASS = 30
MAX_IMBALANCE = 10.0
PARALLEL_THRESHOLD = 256  # below this, worker start-up costs more than it saves

T = TypeVar("T")
R = TypeVar("R")


class PrepareOptions(BaseModel):
    """Options of `yolocls prepare` (CLI flags map 1:1)."""

    source: Path
    csv: Path | None = None
    filename_col: str | None = None
    label_col: str | None = None
    out: Path | None = None
    name: str | None = None
    datasets_dir: Path = Path("datasets")
    split: str = "0.8,0.1,0.1"
    seed: int = 0
    overwrite: bool = False
    dry_run: bool = False
    near_dup_threshold: int = Field(default=4, ge=-1, le=15)
    max_pixels: int = DEFAULT_MAX_PIXELS
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1)
    progress: bool | None = None  # None: only on a terminal


@dataclass
class PrepareResult:
    manifest: Manifest
    out: Path
    linked: int = 0
    copied: int = 0
    converted: int = 0
    written: bool = False


def parallel_map(fn: Callable[[T], R], items: list[T], workers: int, desc: str,
                 progress: bool | None) -> list[R]:
    """Ordered map over processes (serial for small inputs), with a progress bar on terminals."""
    bar_off = None if progress is None else not progress
    if workers <= 1 or len(items) < PARALLEL_THRESHOLD:
        return [fn(x) for x in tqdm(items, desc=desc, disable=bar_off or len(items) < PARALLEL_THRESHOLD,
                                     file=sys.stderr, unit="img")]
    chunk = max(16, min(256, len(items) // (workers * 8) or 1))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results: Iterable[R] = pool.map(fn, items, chunksize=chunk)
        return list(tqdm(results, total=len(items), desc=desc, disable=bar_off, file=sys.stderr, unit="img"))


def output_path(opts: PrepareOptions, source: Path) -> Path:
    """`--out`, else `datasets/<--name or source stem>` (never the source itself)."""
    if opts.out is not None:
        out = opts.out
    else:
        stem = opts.name or source.name.split(".")[0] or "dataset"
        out = opts.datasets_dir / stem
        if opts.name is None and (out.resolve() == source.resolve() or source.resolve() in out.resolve().parents):
            out = opts.datasets_dir / f"{stem}-prepared"
    out = out.resolve()
    src = source.resolve()
    if out == src or src in out.parents or (src.is_dir() and out in src.parents):
        raise SourceError(f"output {out} overlaps the source {src}; choose another --out or --name")
    return out


@contextmanager
def staging_dir(out: Path) -> Iterator[Path]:
    """A temp folder beside `out` (same filesystem: hard links and an atomic rename); removed on failure."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(tmp: Path, out: Path, overwrite: bool) -> None:
    """Rename the finished dataset into place; an old one (with --overwrite) is swapped out then deleted."""
    old = None
    if out.exists():
        if not overwrite:
            raise SourceError(f"{out} already exists; pass --overwrite to replace it or choose --name/--out")
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _unique_name(taken: set[str], item: SourceItem, scan: ScanResult) -> str:
    stem = Path(item.rel).stem or "image"
    name = f"{stem}{scan.out_ext}"
    if name.lower() in taken:
        name = f"{stem}_{scan.sha256[:10]}{scan.out_ext}"
    taken.add(name.lower())
    return name


def _link_or_copy(src: Path, dst: Path) -> str:
    try:
        os.link(src, dst)
        return "linked"
    except OSError:
        shutil.copyfile(src, dst)
        return "copied"


def _write_one(job: tuple[Path, Path, bool]) -> str:
    src, dst, convert = job
    if convert:
        write_normalised(src, dst)
        return "converted"
    return _link_or_copy(src, dst)


def _resolve_groups(items: list[SourceItem], scans: list[ScanResult], threshold: int,
                    skipped: list[SkippedFile]) -> tuple[list[list[int]], list[DuplicateGroup]]:
    """Groups of usable item indices (singletons included) + the duplicate report."""
    usable = [i for i, s in enumerate(scans) if s.ok]
    found = group_duplicates([scans[i].sha256 for i in usable], [scans[i].dhash for i in usable], threshold)
    in_group: set[int] = set()
    units: list[list[int]] = []
    report: list[DuplicateGroup] = []
    for local in found:
        members = sorted((usable[k] for k in local), key=lambda i: items[i].rel)
        in_group.update(members)
        labels = sorted({items[i].label for i in members})
        shas = {scans[i].sha256 for i in members}
        kind: Literal["exact", "near"] = "exact" if len(shas) == 1 else "near"
        files = [items[i].rel for i in members]
        if len(labels) > 1:
            for i in members:
                skipped.append(SkippedFile(path=items[i].rel, reason=f"{kind} duplicate with conflicting labels "
                                           f"({', '.join(labels)})"))
            report.append(DuplicateGroup(kind=kind, files=files, labels=labels,
                                         action="excluded: same image carries different labels"))
            continue
        keep: list[int] = []
        first_of_sha: dict[str, int] = {}
        for i in members:
            sha = scans[i].sha256
            if sha in first_of_sha:
                skipped.append(SkippedFile(path=items[i].rel,
                                           reason=f"exact duplicate of {items[first_of_sha[sha]].rel}"))
            else:
                first_of_sha[sha] = i
                keep.append(i)
        units.append(keep)
        action = "kept one copy" if len(keep) == 1 else "kept together in one split"
        report.append(DuplicateGroup(kind=kind, files=files, labels=labels, action=action))
    units.extend([i] for i in usable if i not in in_group)
    return units, report


def _presplit_assignment(units: list[list[int]], items: list[SourceItem]) -> tuple[dict[int, str], list[str]]:
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


def _check_class_sets(counts: dict[str, dict[str, int]], classes: list[str]) -> None:
    for split, per_class in counts.items():
        for label in classes:
            if per_class.get(label, 0) == 0:
                total = sum(c.get(label, 0) for c in counts.values())
                raise DatasetError(f"class '{label}' has no images in the {split} split ({total} usable in all); "
                                   "every class needs at least one image in every split (Ultralytics indexes "
                                   "each split's folders separately). Add images or drop the class")


def _balance_warnings(totals: Counter[str]) -> list[str]:
    warnings = [f"class '{c}' has only {n} images (< {MIN_IMAGES_PER_CLASS}); expect unreliable accuracy for it"
                for c, n in sorted(totals.items()) if n < MIN_IMAGES_PER_CLASS]
    largest, smallest = max(totals.values()), min(totals.values())
    if smallest and largest / smallest > MAX_IMBALANCE:
        big = max(totals, key=lambda c: totals[c])
        small = min(totals, key=lambda c: totals[c])
        warnings.append(f"class imbalance {largest / smallest:.1f}x: '{big}' has {largest} images, "
                        f"'{small}' has {smallest}; consider collecting more or weighting")
    return warnings


def prepare_dataset(opts: PrepareOptions) -> PrepareResult:
    """Run the whole preparation; raises YoloclsError subclasses for problems the user can fix."""
    source = opts.source.expanduser()
    if not source.exists():
        raise SourceError(f"{source}: no such file or folder")
    out = output_path(opts, source)
    if out.exists() and not opts.overwrite and not opts.dry_run:
        raise SourceError(f"{out} already exists; pass --overwrite to replace it or choose --name/--out")
    ratios = parse_ratios(opts.split)
    with staging_dir(out) as tmp:
        root = source
        if is_archive(source):
            root = extract_archive(source, tmp / "_extracted")
        elif source.is_file():
            raise SourceError(f"{source}: not a folder or a supported archive (.zip, .tar, .tar.gz, .tgz)")
        csv_path = opts.csv
        if csv_path is not None and not csv_path.is_file() and (root / csv_path).is_file():
            csv_path = root / csv_path  # a CSV named relative to the archive's content
        if csv_path is not None and not csv_path.is_file():
            raise SourceError(f"--csv {opts.csv}: file not found")
        found = collect(root, csv_path, opts.filename_col, opts.label_col)
        items = found.items
        skipped = [SkippedFile(path=p, reason=r) for p, r in found.ignored]
        warnings = list(found.warnings)

        scans = parallel_map(partial(scan_image, max_pixels=opts.max_pixels), [it.path for it in items],
                             opts.workers, "checking", opts.progress)
        skipped += [SkippedFile(path=it.rel, reason=s.reason or "") for it, s in zip(items, scans) if not s.ok]
        units, dup_report = _resolve_groups(items, scans, opts.near_dup_threshold, skipped)
        classes = sorted({items[u[0]].label for u in units})
        if not classes:
            raise SourceError(f"{source}: none of the {len(items)} candidate files is a usable image "
                              f"(first reason: {skipped[0].reason if skipped else 'n/a'})")
        if len(classes) < 2:
            raise SourceError(f"{source}: only one class ('{classes[0]}') found; a classifier needs at least two")
        if found.layout == "presplit":
            assignment, moved = _presplit_assignment(units, items)
            warnings += moved
            if opts.split != PrepareOptions.model_fields["split"].default:
                warnings.append(f"--split {opts.split} ignored: the source is already split into train/val"
                                f"{'/test' if any(it.split == 'test' for it in items) else ''}")
            split_ratios = None
        else:
            assignment = assign_groups(units, [it.label for it in items], ratios, opts.seed)
            split_ratios = ratios
        split_names = [s for s in ("train", "val", "test") if s in set(assignment.values())] \
            if split_ratios is None else list(ratios)
        counts: dict[str, dict[str, int]] = {s: {c: 0 for c in classes} for s in split_names}
        for i, split in assignment.items():
            counts[split][items[i].label] += 1
        _check_class_sets(counts, classes)
        totals: Counter[str] = Counter()
        for per_class in counts.values():
            totals.update(per_class)
        warnings += _balance_warnings(totals)

        # Deterministic names: items in source-path order, collisions get a hash suffix.
        taken: dict[tuple[str, str], set[str]] = defaultdict(set)
        files: list[DatasetFile] = []
        jobs: list[tuple[Path, Path, bool]] = []
        stage = tmp / "dataset"
        for i in sorted(assignment, key=lambda k: items[k].rel):
            item, scan, split = items[i], scans[i], assignment[i]
            name = _unique_name(taken[(split, item.label)], item, scan)
            rel_out = f"{split}/{item.label}/{name}"
            files.append(DatasetFile(path=rel_out, source=item.rel, sha256=scan.sha256, converted=scan.convert))
            jobs.append((item.path, stage / rel_out, scan.convert))
        manifest = Manifest(
            created=datetime.now(timezone.utc), yolocls_version=__version__, source=str(source.resolve()),
            layout=cast(Literal["folders", "presplit", "csv"], found.layout),
            classes=classes, counts=counts, split=split_ratios, seed=opts.seed,
            near_duplicate_threshold=opts.near_dup_threshold, skipped=sorted(skipped, key=lambda s: s.path),
            duplicates=dup_report, warnings=warnings, files=sorted(files, key=lambda f: f.path))
        result = PrepareResult(manifest=manifest, out=out)
        if opts.dry_run:
            return result
        for split in split_names:
            for label in classes:
                (stage / split / label).mkdir(parents=True, exist_ok=True)
        outcomes = Counter(parallel_map(_write_one, jobs, opts.workers, "writing", opts.progress))
        result.linked, result.copied, result.converted = outcomes["linked"], outcomes["copied"], outcomes["converted"]
        (stage / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
        publish(stage, out, opts.overwrite)
        result.written = True
        return result
