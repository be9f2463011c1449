"""Command-line interface: `yolocls prepare|train|presets|report|runs|export|serve|predict`.

Heavy libraries (torch, Ultralytics) are imported inside the commands that need them, so
`yolocls --help` is instant. Errors a user can cause print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from yolocls import __version__
from yolocls.errors import ConfigError, YoloclsError

if TYPE_CHECKING:
    from yolocls.prepare import PrepareResult

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _add_prepare(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--max-pixels", type=int, default=None, help="skip images above this many pixels")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=cmd_prepare)


def cmd_prepare(args: argparse.Namespace) -> int:
    from yolocls.prepare import PrepareOptions, prepare_dataset

    fields = dict(source=args.source, csv=args.csv, filename_col=args.filename_col, label_col=args.label_col,
                  out=args.out, name=args.name, split=args.split, seed=args.seed, overwrite=args.overwrite,
                  dry_run=args.dry_run, near_dup_threshold=args.near_dup_threshold)
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


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a classifier on a prepared dataset with a preset",
                       description="Train with a preset (see `yolocls presets`). Precedence: preset < --aug < "
                                   "--epochs/--imgsz/--batch < --set KEY=VALUE. Writes runs/<name>/ with run.json.")
    p.add_argument("--data", type=Path, help="prepared dataset folder (from `yolocls prepare`)")
    p.add_argument("--preset", default="small-fast", help="training preset (default small-fast)")
    p.add_argument("--name", help="run name under runs/ (default <dataset>-<preset>; never overwritten)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--imgsz", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--device", default="auto", help="auto (GPU when available) | cpu | 0 | 0,1")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--weights", type=Path, help="start from this checkpoint (.pt)")
    w.add_argument("--no-pretrained", action="store_true", help="train from scratch (model YAML)")
    p.add_argument("--aug", help="augmentation set: none | light | standard | heavy (default: the preset's)")
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


def cmd_train(args: argparse.Namespace) -> int:
    from yolocls.train import TrainOptions, train

    if args.resume and args.data:
        raise ConfigError("--resume continues a run with its own dataset; do not pass --data")
    opts = TrainOptions(data=args.data, preset=args.preset, name=args.name, epochs=args.epochs, imgsz=args.imgsz,
                        batch=args.batch, device=args.device, weights=args.weights,
                        pretrained=not args.no_pretrained, aug=args.aug, set=args.set, resume=args.resume,
                        quiet=args.quiet, runs_dir=args.runs_dir, report=not args.no_report)
    run_dir, record = train(opts)
    best = record.best_metric
    print(f"run {record.status}: {run_dir} (best epoch {record.best_epoch}, val top1 "
          f"{best.get('top1', float('nan')):.4f}); weights: {run_dir / 'weights' / 'best.pt'}")
    if opts.report:
        _report_after_training(run_dir, args.quiet)
    return 0


def _report_after_training(run_dir: Path, quiet: bool) -> None:
    from yolocls.report import ReportOptions, write_report

    try:
        result = write_report(ReportOptions(run_dir=run_dir))
        if not quiet:
            print(f"report: {result.report_dir}")
    except YoloclsError as exc:
        print(f"yolocls train: warning: report not written: {exc}", file=sys.stderr)


def cmd_presets(args: argparse.Namespace) -> int:
    from yolocls.presets import load_presets

    book = load_presets()
    if args.json:
        print(book.model_dump_json(indent=2))
        return 0
    for name, p in book.presets.items():
        print(f"{name}: {p.description}")
        print(f"  model: {p.model}   aug: {p.aug}")
        print("  " + "  ".join(f"{k}={v}" for k, v in p.args.items()))
    print("\naugmentation sets (--aug):")
    for name, a in book.augmentations.items():
        print(f"{name}: {a.description}")
        print("  " + "  ".join(f"{k}={v}" for k, v in a.args.items()))
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="metrics, confusion matrices and mistakes for a run",
                       description="Evaluate a run's weights and write RUN_DIR/report/ (metrics.json, per_class.csv, "
                                   "predictions.csv, confusion_matrix.csv [rows = true, columns = predicted], "
                                   "pictures and report.html).")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--split", choices=["val", "test"], help="default: test when the dataset has it, else val")
    p.add_argument("--weights", choices=["best", "last"], default="best")
    p.add_argument("--data", type=Path, help="dataset folder (for runs without run.json, or a moved dataset)")
    p.add_argument("--device", default="auto", help="auto (first GPU when available, default) or cpu")
    p.set_defaults(func=cmd_report)
    r = sub.add_parser("runs", help="leaderboard of all runs under runs/")
    r.add_argument("--runs-dir", type=Path, default=Path("runs"))
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.set_defaults(func=cmd_runs)


def cmd_report(args: argparse.Namespace) -> int:
    from yolocls.report import ReportOptions, print_report_summary, write_report

    result = write_report(ReportOptions(run_dir=args.run_dir, split=args.split, weights=args.weights,
                                        data=args.data, device=args.device))
    print_report_summary(result)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from yolocls.report import runs_table

    table = runs_table(args.runs_dir)
    if args.json:
        print(table.to_json(orient="records", indent=2))
    elif table.empty:
        print(f"no runs under {args.runs_dir}")
    else:
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}", na_rep="-"))
    return 0


def _add_serving(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("export", help="export a run's model (ONNX by default) with a parity check",
                       description="Export RUN_DIR/weights/best.pt next to itself and write RUN_DIR/export.json, "
                                   "including a parity check against the .pt model on the val split.")
    e.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    e.add_argument("--format", choices=["onnx", "torchscript", "openvino"], default="onnx")
    e.add_argument("--imgsz", type=int, help="default: the training image size")
    e.add_argument("--weights", choices=["best", "last"], default="best")
    e.add_argument("--data", type=Path, help="dataset for the parity check (default: the run's)")
    e.set_defaults(func=cmd_export)
    s = sub.add_parser("serve", help="serve an exported model over HTTP (POST /predict)",
                       description="FastAPI + uvicorn. Every option can also come from YOLOCLS_* environment "
                                   "variables (e.g. YOLOCLS_MODEL, YOLOCLS_API_KEY, YOLOCLS_MAX_BATCH).")
    s.add_argument("--model", type=Path, help="exported .onnx file or a run folder (env YOLOCLS_MODEL)")
    s.add_argument("--host", help="default 127.0.0.1 (env YOLOCLS_HOST)")
    s.add_argument("--port", type=int, help="default 8000 (env YOLOCLS_PORT)")
    s.add_argument("--workers", type=int, help="server processes (default 1; env YOLOCLS_WORKERS)")
    s.add_argument("--max-batch", type=int, help="micro-batch size limit (default 16)")
    s.add_argument("--max-wait-ms", type=float, help="micro-batch wait limit in ms (default 3)")
    s.set_defaults(func=cmd_serve)
    p = sub.add_parser("predict", help="classify local images with an exported model")
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    p.add_argument("--model", type=Path, default=None, help="exported .onnx or run folder (env YOLOCLS_MODEL)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print the same JSON as POST /predict")
    p.set_defaults(func=cmd_predict)


def cmd_export(args: argparse.Namespace) -> int:
    from yolocls.export import ExportOptions, export_model

    rec = export_model(ExportOptions(run_dir=args.run_dir, format=args.format, imgsz=args.imgsz,
                                     weights=args.weights, data=args.data))
    p = rec.parity
    print(f"exported {rec.format}: {args.run_dir / rec.path} (sha256 {rec.sha256[:12]}..., imgsz {rec.imgsz}, "
          f"{len(rec.classes)} classes)")
    print(f"parity on {p.images} {p.split} images: top-1 agreement {p.top1_agreement:.4f}, max probability "
          f"difference {p.max_prob_diff:.2e} -> {'PASSED' if p.passed else 'FAILED'}")
    print(f"record: {args.run_dir / 'export.json'}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from yolocls.onnx_model import resolve_model_path
    from yolocls.settings import ServeSettings

    cli = {"model": args.model, "host": args.host, "port": args.port, "workers": args.workers,
           "max_batch": args.max_batch, "max_wait_ms": args.max_wait_ms}
    for key, value in cli.items():
        if value is not None:
            os.environ[f"YOLOCLS_{key.upper()}"] = str(value)
    if not os.environ.get("YOLOCLS_MODEL"):
        raise ConfigError("--model PATH (or YOLOCLS_MODEL) is required: an exported .onnx file or a run folder")
    settings = ServeSettings()  # type: ignore[call-arg]
    if settings.workers > 1 and settings.threads is None:  # share the cores between worker processes
        os.environ["YOLOCLS_THREADS"] = str(max(1, (os.cpu_count() or 1) // settings.workers))
    os.environ["YOLOCLS_MODEL"] = str(resolve_model_path(settings.model).resolve())  # fail fast, clearly
    uvicorn.run("yolocls.server:app_from_env", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_level="info", access_log=False)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import json
    import os
    import time

    from yolocls.classifier import predict_paths
    from yolocls.onnx_model import OnnxClassifier, resolve_model_path
    from yolocls.schemas import ModelRef, PredictResponse, to_predictions

    model_path: Path | None = args.model or (Path(os.environ["YOLOCLS_MODEL"]) if os.environ.get("YOLOCLS_MODEL")
                                             else None)
    if model_path is None:
        raise ConfigError("--model PATH (or YOLOCLS_MODEL) is required: an exported .onnx file or a run folder")
    start = time.perf_counter()
    model = OnnxClassifier(resolve_model_path(model_path))
    probs = predict_paths(model, args.images, batch_size=32)  # bounded memory for many images
    k = min(args.top_k, len(model.classes))
    response = PredictResponse(
        predictions=to_predictions(probs, [str(p) for p in args.images], model.classes, k),
        model=ModelRef(name=model.name, sha256=model.sha256),
        time_ms=round((time.perf_counter() - start) * 1000, 3))
    if args.json:
        print(json.dumps(response.model_dump(by_alias=True), indent=2))
    else:
        for pred in response.predictions:
            print(f"{pred.filename}: {pred.class_name} ({pred.confidence:.3f})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yolocls", description="Labelled images in, a deployed YOLOv8 image "
                                     "classifier out: prepare -> train -> report -> export -> serve.")
    parser.add_argument("--version", action="version", version=f"yolocls {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_prepare(sub)
    _add_train(sub)
    _add_report(sub)
    _add_serving(sub)
    for extra in _EXTRA_COMMANDS:
        extra(sub)
    return parser


_EXTRA_COMMANDS: list = []


def describe_validation_error(exc: ValidationError) -> str:
    """'--epochs 0: Input should be greater than or equal to 1' (first problem, named as a flag)."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or "value"
    flag = f"--{field.replace('_', '-')}" if exc.title.endswith("Options") else f"YOLOCLS_{field.upper()}"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{flag} {first.get('input')!r}: {first.get('msg')}{more}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except YoloclsError as exc:
        print(f"yolocls {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"yolocls {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ValidationError as exc:  # option models (flags, YOLOCLS_* settings) rejected a value
        print(f"yolocls {args.command}: error: {describe_validation_error(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # permissions, full disk, missing paths: the user's environment, not a bug
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"yolocls {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USER_ERROR
