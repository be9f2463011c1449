"""`yolocls check-labels`: flags and printed output."""

from __future__ import annotations

import argparse
from pathlib import Path

from yolocls.cli.train import add_model_flags, model_flags


def add_check_labels(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-labels", help="find labels that are probably wrong (k-fold + cleanlab)",
                       description="Out-of-sample probabilities for every image of a prepared dataset (k models, "
                                   "each trained on the other folds), ranked by confident learning (cleanlab). "
                                   "Writes RUNS_DIR/NAME/label_issues.csv (every image, most suspect first) and "
                                   "gallery.html (the suspects with thumbnails).")
    p.add_argument("data", type=Path, metavar="DATASET", help="prepared dataset folder (from `yolocls prepare`)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    add_model_flags(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the folds (default 0)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--name", help="the check's folder name (default <dataset>-labels; never overwritten)")
    p.add_argument("--top", type=int, default=10, help="suspects printed (default 10)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_check_labels)


def cmd_check_labels(args: argparse.Namespace) -> int:
    from yolocls.evaluation.label_check import GALLERY, ISSUES_CSV, CheckOptions, check_labels

    train = model_flags(args)
    result = check_labels(CheckOptions(data=args.data.expanduser().resolve(), folds=args.folds, train=train,
                                       runs_dir=args.runs_dir, name=args.name, seed=args.seed, quiet=args.quiet))
    print(f"{result.issues} of {result.images} labels look wrong (cleanlab, {args.folds}-fold out-of-sample "
          f"probabilities, {result.seconds:.0f} s); most suspect first:")
    for s in [s for s in result.ranked if s.issue][:args.top]:
        print(f"  {s.path}: labelled {s.given}, looks like {s.suggested} (score {s.score:.3f})")
    print(f"files: {result.folder / ISSUES_CSV}, {result.folder / GALLERY}")
    return 0
