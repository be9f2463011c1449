"""`yolocls train`, `presets`, `report` and `runs`: flags and printed output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from yolocls.core.errors import ConfigError
from yolocls.core.runlayout import weights_path


def add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a classifier on a prepared dataset with a preset",
                       description="Train with a preset (see `yolocls presets`). Precedence: preset < --aug < "
                                   "--epochs/--imgsz/--batch < --set KEY=VALUE. Writes runs/<name>/ with run.json.")
    p.add_argument("--data", type=Path, help="prepared dataset folder (from `yolocls prepare`)")
    p.add_argument("--preset", default="small-fast", help="training preset (default small-fast)")
    p.add_argument("--name", help="run name under runs/ (default <dataset>-<preset>; never overwritten)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--imgsz", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--device", default="auto", help="auto (GPU when available) | cpu | 0 | 0,1 | cuda:0")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--weights", type=Path, help="start from this checkpoint (.pt)")
    w.add_argument("--no-pretrained", action="store_true", help="train from scratch (model YAML)")
    p.add_argument("--aug", help="augmentation set: none | light | crops | standard | heavy (default: the preset's)")
    p.add_argument("--balance", choices=("auto", "none", "weights", "sampler"),
                   help="imbalanced classes: class-weighted loss, a class-balanced sampler, or none; auto "
                        "(the default): weights when the largest class has over 3x the images of the smallest")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any Ultralytics training argument, e.g. --set lr0=0.01 (repeatable)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where runs are written (default runs/)")
    p.add_argument("--no-report", action="store_true", help="skip writing the report at the end")
    p.add_argument("--quiet", action="store_true", help="only errors and the final line (for scripts)")
    p.set_defaults(func=cmd_train)
    q = sub.add_parser("presets", help="list training presets and augmentation sets with their exact settings")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=cmd_presets)


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """The training flags of commands that train several models the same way (learning-curve, check-labels)."""
    p.add_argument("--preset", default="small-fast", help="training preset of every model (default small-fast)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--imgsz", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--device", default="auto", help="auto (GPU when available) | cpu | 0 | 0,1")
    p.add_argument("--no-pretrained", action="store_true", help="train from scratch (model YAML)")
    p.add_argument("--aug", help="augmentation set (default: the preset's)")
    p.add_argument("--balance", choices=("auto", "none", "weights", "sampler"), help="imbalanced classes (default "
                   "auto)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a training argument (repeatable)")


def model_flags(args: argparse.Namespace) -> dict[str, object]:
    """Those flags as TrainOptions fields."""
    return {"preset": args.preset, "epochs": args.epochs, "imgsz": args.imgsz, "batch": args.batch,
            "device": args.device, "pretrained": not args.no_pretrained, "aug": args.aug, "balance": args.balance,
            "set": args.set}


def cmd_train(args: argparse.Namespace) -> int:
    from yolocls.training.runner import TrainOptions, train

    if args.resume and args.data:
        raise ConfigError("--resume continues a run with its own dataset; do not pass --data")
    if args.resume and args.balance:
        raise ConfigError("--resume continues a run with its own --balance (see its run.json); do not pass it")
    opts = TrainOptions(data=args.data, preset=args.preset, name=args.name, epochs=args.epochs, imgsz=args.imgsz,
                        batch=args.batch, device=args.device, weights=args.weights,
                        pretrained=not args.no_pretrained, aug=args.aug, balance=args.balance, set=args.set,
                        resume=args.resume,
                        quiet=args.quiet, runs_dir=args.runs_dir, report=not args.no_report)
    run_dir, record = train(opts)
    best = record.best_metric
    print(f"run {record.status}: {run_dir} (best epoch {record.best_epoch}, val top1 "
          f"{best.get('top1', float('nan')):.4f}); weights: {weights_path(run_dir, 'best')}")
    if opts.report:
        _report_after_training(run_dir, args.quiet)
    return 0


def _report_after_training(run_dir: Path, quiet: bool) -> None:
    from yolocls.evaluation.report import report_after_training

    result = report_after_training(run_dir, lambda line: print(f"yolocls train: {line}", file=sys.stderr))
    if result is not None and not quiet:
        print(f"report: {result.report_dir}")


def cmd_presets(args: argparse.Namespace) -> int:
    from yolocls.training.presets import load_presets

    book = load_presets()
    if args.json:
        print(book.model_dump_json(indent=2))
        return 0
    for name, p in book.presets.items():
        print(f"{name}: {p.description}")
        print(f"  model: {p.model}   aug: {p.aug}   balance: {p.balance}")
        print("  " + "  ".join(f"{k}={v}" for k, v in p.args.items()))
    print("\naugmentation sets (--aug):")
    for name, a in book.augmentations.items():
        print(f"{name}: {a.description}")
        print("  " + "  ".join(f"{k}={v}" for k, v in a.args.items()))
    return 0


def fraction(text: str) -> float:
    """An argparse type: a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return value


def add_openset_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target-precision", type=fraction, default=0.95,
                   help="precision each class's answers must reach on val; below its threshold the model answers "
                        "'unknown' (default 0.95)")
    p.add_argument("--known-recall", type=fraction, default=0.95,
                   help="thresholds are at least high enough to leave out the least confident (1 - this) of each "
                        "class's correct val answers; 1 keeps them all (default 0.95)")


def add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="metrics, confusion matrices and mistakes for a run",
                       description="Evaluate a run's weights and write RUN_DIR/report/ (metrics.json, per_class.csv, "
                                   "predictions.csv, confusion_matrix.csv [rows = true, columns = predicted], "
                                   "pictures and report.html).")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--split", choices=["val", "test"], help="default: test when the dataset has it, else val")
    p.add_argument("--weights", choices=["best", "last"], default="best")
    p.add_argument("--data", type=Path, help="dataset folder (for runs without run.json, or a moved dataset)")
    p.add_argument("--device", default="auto", help="auto (first GPU when available, default) or cpu")
    add_openset_flags(p)
    p.add_argument("--ood", type=Path, metavar="DIR",
                   help="a folder of images of none of the classes: report the fraction answered 'unknown'")
    p.set_defaults(func=cmd_report)
    r = sub.add_parser("runs", help="leaderboard of all runs under runs/")
    r.add_argument("--runs-dir", type=Path, default=Path("runs"))
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.set_defaults(func=cmd_runs)


def cmd_report(args: argparse.Namespace) -> int:
    from yolocls.evaluation.report import ReportOptions, print_report_summary, write_report

    result = write_report(ReportOptions(run_dir=args.run_dir, split=args.split, weights=args.weights,
                                        data=args.data, device=args.device, ood=args.ood,
                                        target_precision=args.target_precision, known_recall=args.known_recall))
    print_report_summary(result)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from yolocls.evaluation.leaderboard import runs_table

    table = runs_table(args.runs_dir, warn=lambda msg: print(f"yolocls runs: warning: {msg}", file=sys.stderr))
    if args.json:
        print(table.to_json(orient="records", indent=2))
    elif table.empty:
        print(f"no runs under {args.runs_dir}")
    else:
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}", na_rep="-"))
    return 0
