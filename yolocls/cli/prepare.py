"""`yolocls prepare`: flags, and the summary table printed after it."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from yolocls.data.prepare import PrepareResult


def add_prepare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="turn labelled images into a YOLOv8 classification dataset",
                       description="Convert a folder per class, a train/val tree, images + CSV, or an archive of "
                                   "any of these into datasets/<name>/{train,val,test}/<class>/ with manifest.json.")
    p.add_argument("source", type=Path, help="folder or .zip/.tar/.tar.gz/.tgz archive")
    p.add_argument("--csv", type=Path, help="CSV with filename,label columns (paths relative to SOURCE)")
    p.add_argument("--filename-col", help="CSV column holding the file name (default: filename)")
    p.add_argument("--label-col", help="CSV column holding the class (default: label)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, help="output folder (default: datasets/<name>)")
    where.add_argument("--name", help="dataset name under datasets/ (default: the source's name)")
    p.add_argument("--split", default="0.8,0.1,0.1", help="train,val[,test] ratios (default 0.8,0.1,0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output dataset")
    p.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    p.add_argument("--near-dup-threshold", type=int, default=4,
                   help="max differing bits of the 256-bit dHash for near-duplicates (0-15, -1: exact only; default 4)")
    p.add_argument("--keep-conflicts", action="store_true",
                   help="keep images whose exact or near copy carries another label (default: leave out only "
                        "those images, listed with the reason in the manifest's skipped files)")
    p.add_argument("--max-pixels", type=int, default=None, help="skip images above this many pixels")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=cmd_prepare)


def cmd_prepare(args: argparse.Namespace) -> int:
    from yolocls.data.prepare import PrepareOptions, prepare_dataset

    fields = dict(source=args.source, csv=args.csv, filename_col=args.filename_col, label_col=args.label_col,
                  out=args.out, name=args.name, split=args.split, seed=args.seed, overwrite=args.overwrite,
                  dry_run=args.dry_run, near_dup_threshold=args.near_dup_threshold,
                  keep_conflicts=args.keep_conflicts)
    if args.max_pixels:
        fields["max_pixels"] = args.max_pixels
    if args.workers:
        fields["workers"] = args.workers
    result = prepare_dataset(PrepareOptions(**fields))
    print_prepare_summary(result)
    return 0


def print_prepare_summary(result: PrepareResult) -> None:
    import pandas as pd

    m = result.manifest
    table = pd.DataFrame(m.counts).reindex(m.classes).fillna(0).astype(int)
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    table.index.name = "class"
    print(table.to_string())
    print(f"\n{len(m.classes)} classes, {int(table.loc['total', 'total'])} images; "
          f"{len(m.skipped)} skipped; {len(m.duplicates)} duplicate group(s)")
    if m.skipped:
        reasons = Counter(s.reason.split(":")[0].split(" (")[0] for s in m.skipped)
        print("skipped: " + "; ".join(f"{n} x {r}" for r, n in reasons.most_common()))
        for s in m.skipped[:5]:
            print(f"  {s.path}: {s.reason}")
        if len(m.skipped) > 5:
            print(f"  ... {len(m.skipped) - 5} more in manifest.json 'skipped'")
    if result.written:
        print(f"files: {result.linked} hard-linked, {result.copied} copied, {result.converted} converted")
        print(f"dataset written to {result.out} (manifest: {result.out / 'manifest.json'})")
    else:
        print(f"dry run: nothing written (would write {result.out})")
    for w in m.warnings:
        print(f"warning: {w}")
