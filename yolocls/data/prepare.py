"""`yolocls prepare`: any labelled-image source -> a checked YOLOv8 classification dataset, atomically.

The pipeline's stages, each in its own module: collect (`sources`, `archive`) -> scan (`images`) ->
group (`duplicates`) -> assign (`splitting`) -> write (`writer`), then publish atomically (`core.fs`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Literal, cast

from pydantic import BaseModel, Field

from yolocls import __version__
from yolocls.core.errors import SourceError
from yolocls.core.fs import atomic_write_text, publish_dir, staging_dir
from yolocls.core.limits import DEFAULT_MAX_PIXELS, available_cpus
from yolocls.core.parallel import parallel_map
from yolocls.core.progress import progress_reporter
from yolocls.data.archive import extract_archive, is_archive
from yolocls.data.duplicates import resolve_duplicates
from yolocls.data.images import ScanResult, scan_image
from yolocls.data.layout import SPLITS
from yolocls.data.manifest import MANIFEST_NAME, DatasetFile, DuplicateGroup, Manifest, SkippedFile
from yolocls.data.sources import Collected, collect
from yolocls.data.splitting import assign_groups, balance_warnings, check_class_sets, parse_ratios, presplit_assignment
from yolocls.data.writer import WriteJob, plan_files, write_one

DEFAULT_SPLIT = "0.8,0.1,0.1"
EXISTS_HINT = "pass --overwrite to replace it or choose --name/--out"


class PrepareOptions(BaseModel):
    """Options of `yolocls prepare` (CLI flags map 1:1)."""

    source: Path
    csv: Path | None = None
    filename_col: str | None = None
    label_col: str | None = None
    out: Path | None = None
    name: str | None = None
    datasets_dir: Path = Path("datasets")
    split: str = DEFAULT_SPLIT
    seed: int = 0
    overwrite: bool = False
    dry_run: bool = False
    near_dup_threshold: int = Field(default=4, ge=-1, le=15)
    keep_conflicts: bool = Field(default=False, description="Keep images whose exact or near copy carries "
                                 "another label (with their own labels) instead of leaving them out")
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, ge=1)
    workers: int = Field(default_factory=available_cpus, ge=1)
    progress: bool | None = None  # None: only on a terminal
    progress_file: Path | None = Field(default=None, description="Also write {stage, done, total} here as JSON "
                                       "(at most twice a second), for a service following the job")


@dataclass
class PrepareResult:
    manifest: Manifest
    out: Path
    linked: int = 0
    copied: int = 0
    converted: int = 0
    written: bool = False


@dataclass
class _Plan:
    """What the stages decided before anything is written."""

    found: Collected
    scans: list[ScanResult]
    assignment: dict[int, str]
    classes: list[str]
    skipped: list[SkippedFile]
    duplicates: list[DuplicateGroup]
    warnings: list[str]
    split_ratios: dict[str, float] | None


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


def _collect(opts: PrepareOptions, source: Path, tmp: Path) -> Collected:
    """Stage 1: extract an archive (safely) and find every candidate image with its label."""
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
    return collect(root, csv_path, opts.filename_col, opts.label_col)


def _assign(opts: PrepareOptions, found: Collected, units: list[list[int]], warnings: list[str]
            ) -> tuple[dict[int, str], dict[str, float] | None]:
    """Stage 4: item index -> split (kept from a pre-split source, else stratified by ratio)."""
    if found.layout != "presplit":
        ratios = parse_ratios(opts.split)
        return assign_groups(units, [it.label for it in found.items], ratios, opts.seed), ratios
    assignment, moved = presplit_assignment(units, found.items)
    warnings += moved
    if opts.split != DEFAULT_SPLIT:
        warnings.append(f"--split {opts.split} ignored: the source is already split into train/val"
                        f"{'/test' if any(it.split == 'test' for it in found.items) else ''}")
    return assignment, None


def _plan(opts: PrepareOptions, source: Path, tmp: Path) -> _Plan:
    """Stages 1-4: collect, scan every file, group duplicates, assign groups to splits."""
    found = _collect(opts, source, tmp)
    items = found.items
    skipped = [SkippedFile(path=p, reason=r) for p, r in found.ignored]
    warnings = list(found.warnings)
    scans = parallel_map(partial(scan_image, max_pixels=opts.max_pixels), [it.path for it in items],
                         opts.workers, "checking", opts.progress, progress_reporter(opts.progress_file, "checking"))
    skipped += [SkippedFile(path=it.rel, reason=s.reason or "") for it, s in zip(items, scans) if not s.ok]
    units, duplicates = resolve_duplicates(items, scans, opts.near_dup_threshold, skipped, opts.keep_conflicts)
    classes = sorted({items[u[0]].label for u in units})
    if not classes:
        raise SourceError(f"{source}: none of the {len(items)} candidate files is a usable image "
                          f"(first reason: {skipped[0].reason if skipped else 'n/a'})")
    if len(classes) < 2:
        raise SourceError(f"{source}: only one class ('{classes[0]}') found; a classifier needs at least two")
    assignment, split_ratios = _assign(opts, found, units, warnings)
    return _Plan(found, scans, assignment, classes, skipped, duplicates, warnings, split_ratios)


def _count(plan: _Plan) -> dict[str, dict[str, int]]:
    """split -> class -> images; every class must be in every split."""
    used = set(plan.assignment.values())
    names = list(plan.split_ratios) if plan.split_ratios is not None else [s for s in SPLITS if s in used]
    counts = {s: {c: 0 for c in plan.classes} for s in names}
    for i, split in plan.assignment.items():
        counts[split][plan.found.items[i].label] += 1
    check_class_sets(counts, plan.classes)
    return counts


def _write(opts: PrepareOptions, plan: _Plan, jobs: list[WriteJob], stage: Path, counts: dict[str, dict[str, int]]
           ) -> Counter[str]:
    """Stage 5: write every file; one that fails is skipped with its reason and dropped from the plan."""
    for split in counts:
        for label in plan.classes:
            (stage / split / label).mkdir(parents=True, exist_ok=True)
    outcomes = parallel_map(write_one, jobs, opts.workers, "writing", opts.progress,
                            progress_reporter(opts.progress_file, "writing"))
    for outcome in outcomes:
        if outcome.action == "failed":
            plan.skipped.append(SkippedFile(path=plan.found.items[outcome.index].rel, reason=outcome.reason))
            del plan.assignment[outcome.index]
    return Counter(o.action for o in outcomes)


def _manifest(opts: PrepareOptions, source: Path, plan: _Plan, counts: dict[str, dict[str, int]],
              files: list[DatasetFile]) -> Manifest:
    totals: Counter[str] = Counter()
    for per_class in counts.values():
        totals.update(per_class)
    return Manifest(
        created=datetime.now(timezone.utc), yolocls_version=__version__, source=str(source.resolve()),
        layout=cast(Literal["folders", "presplit", "csv"], plan.found.layout), classes=plan.classes,
        counts=counts, split=plan.split_ratios, seed=opts.seed, near_duplicate_threshold=opts.near_dup_threshold,
        skipped=sorted(plan.skipped, key=lambda s: s.path), duplicates=plan.duplicates,
        warnings=plan.warnings + balance_warnings(totals),
        files=files)


def prepare_dataset(opts: PrepareOptions) -> PrepareResult:
    """Run the whole preparation; raises YoloclsError subclasses for problems the user can fix."""
    source = opts.source.expanduser()
    if not source.exists():
        raise SourceError(f"{source}: no such file or folder")
    out = output_path(opts, source)
    if out.exists() and not opts.overwrite and not opts.dry_run:
        raise SourceError(f"{out} already exists; {EXISTS_HINT}")
    parse_ratios(opts.split)  # a bad --split fails before any slow work
    with staging_dir(out) as tmp:
        plan = _plan(opts, source, tmp)
        counts = _count(plan)
        stage = tmp / "dataset"
        files, jobs = plan_files(plan.found.items, plan.scans, plan.assignment, stage)
        result = PrepareResult(manifest=_manifest(opts, source, plan, counts, files), out=out)
        if opts.dry_run:
            return result
        outcomes = _write(opts, plan, jobs, stage, counts)
        if outcomes["failed"]:
            counts = _count(plan)
            written = {j.dst.relative_to(stage).as_posix() for j in jobs if j.index in plan.assignment}
            files = [f for f in files if f.path in written]
            result.manifest = _manifest(opts, source, plan, counts, files)
        result.linked, result.copied, result.converted = outcomes["linked"], outcomes["copied"], outcomes["converted"]
        atomic_write_text(stage / MANIFEST_NAME, result.manifest.model_dump_json(indent=2))
        publish_dir(stage, out, opts.overwrite, EXISTS_HINT)
        result.written = True
        return result
