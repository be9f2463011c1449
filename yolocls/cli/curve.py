"""`yolocls learning-curve`: flags and printed output."""

from __future__ import annotations

import argparse
from pathlib import Path

from yolocls.cli.train import add_model_flags, model_flags


def add_curve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("learning-curve", help="will more images help? train on growing fractions of each class",
                       description="Train the same settings on growing fractions of each class's training images "
                                   "(nested subsets; the same val and test images), plot test top-1 and macro-F1 "
                                   "against images per class, fit a saturation curve and say what a doubling of "
                                   "the data is worth. Writes RUNS_DIR/NAME/learning_curve.{csv,png,json}.")
    p.add_argument("data", type=Path, metavar="DATASET", help="prepared dataset folder (from `yolocls prepare`)")
    p.add_argument("--fractions", default="0.1,0.25,0.5,1", help="fractions of each class's training images "
                   "(default 0.1,0.25,0.5,1)")
    add_model_flags(p)
    p.add_argument("--seed", type=int, default=0, help="which images each subset keeps (default 0)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where the curve folder goes (default runs/)")
    p.add_argument("--name", help="the curve folder's name (default <dataset>-curve; never overwritten)")
    p.add_argument("--quiet", action="store_true", help="only the table and the verdict")
    p.set_defaults(func=cmd_curve)


def cmd_curve(args: argparse.Namespace) -> int:
    from yolocls.evaluation.learning_curve import CSV_NAME, PLOT_NAME, CurveOptions, learning_curve, parse_fractions

    train = model_flags(args)
    fractions = parse_fractions(args.fractions)
    result = learning_curve(CurveOptions(data=args.data.expanduser().resolve(), fractions=fractions, train=train,
                                         runs_dir=args.runs_dir, name=args.name, seed=args.seed, quiet=args.quiet))
    split = result.points[-1].split
    print(f"{'fraction':>8} {'per class':>9} {f'{split} top-1':>11} {f'{split} macro-F1':>14} {'seconds':>8}")
    for p in result.points:
        print(f"{p.fraction:8.0%} {p.images_per_class:9.0f} {p.test_top1:11.4f} {p.test_macro_f1:14.4f} "
              f"{p.seconds:8.0f}")
    print(result.verdict)
    print(f"files: {result.folder / CSV_NAME}, {result.folder / PLOT_NAME}")
    return 0
