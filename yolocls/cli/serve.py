"""`yolocls export`, `serve` and `predict`: flags and printed output."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from yolocls.cli.train import add_openset_flags
from yolocls.core.errors import ConfigError
from yolocls.core.limits import available_cpus
from yolocls.core.runlayout import EXPORT_RECORD


def add_serving(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("export", help="export a run's model (ONNX by default) with a parity check",
                       description="Export RUN_DIR/weights/best.pt next to itself and write RUN_DIR/export.json, "
                                   "including a parity check against the .pt model on the val split.")
    e.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    e.add_argument("--format", choices=["onnx", "torchscript", "openvino"], default="onnx")
    e.add_argument("--imgsz", type=int, help="default: the training image size")
    e.add_argument("--weights", choices=["best", "last"], default="best")
    e.add_argument("--data", type=Path, help="dataset for the parity check (default: the run's)")
    add_openset_flags(e)
    e.add_argument("--no-openset", action="store_true",
                   help="do not embed the open-set thresholds: the model always answers a class")
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
    s.add_argument("--capture", type=Path, metavar="DIR", help="keep copies of the requests answered `unknown` "
                   "(and those below --capture-below, and a --capture-sample of the rest) in DIR, with the "
                   "prediction beside each; written off the request path (env YOLOCLS_CAPTURE_DIR)")
    s.add_argument("--capture-below", type=float, metavar="CONF", help="also capture answers below this confidence")
    s.add_argument("--capture-sample", type=float, metavar="FRACTION", help="also capture this fraction of all "
                   "other requests, e.g. 0.01")
    s.add_argument("--capture-max-files", type=int, help="most captured images kept (default 10000; oldest go first)")
    s.add_argument("--capture-max-bytes", type=int, help="most bytes kept (default 1 GiB; oldest go first)")
    s.set_defaults(func=cmd_serve)
    p = sub.add_parser("predict", help="classify local images with an exported model")
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    p.add_argument("--model", type=Path, default=None, help="exported .onnx or run folder (env YOLOCLS_MODEL)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print the same JSON as POST /predict")
    p.add_argument("--explain", type=Path, metavar="OUT_DIR",
                   help="also write a heatmap (class activation map of the top class) per image into OUT_DIR")
    p.add_argument("--no-abstain", action="store_true",
                   help="always answer the most probable class (ignore the model's open-set thresholds, like "
                        "?abstain=false)")
    p.set_defaults(func=cmd_predict)


def cmd_export(args: argparse.Namespace) -> int:
    from yolocls.export import ExportOptions, export_model

    rec = export_model(ExportOptions(run_dir=args.run_dir, format=args.format, imgsz=args.imgsz,
                                     weights=args.weights, data=args.data, openset=not args.no_openset,
                                     target_precision=args.target_precision, known_recall=args.known_recall))
    p = rec.parity
    print(f"exported {rec.format}: {args.run_dir / rec.path} (sha256 {rec.sha256[:12]}..., imgsz {rec.imgsz}, "
          f"{len(rec.classes)} classes)")
    print(f"parity on {p.images} {p.split} images: top-1 agreement {p.top1_agreement:.4f}, max probability "
          f"difference {p.max_prob_diff:.2e} -> {'PASSED' if p.passed else 'FAILED'}")
    if rec.openset is not None:
        o = rec.openset
        print(f"open set: temperature {o.temperature:.3f}, thresholds {min(o.thresholds.values()):.3f}.."
              f"{max(o.thresholds.values()):.3f} (target precision {o.target_precision} on {p.split}); "
              "predictions below them answer 'unknown' unless ?abstain=false")
    print(f"record: {args.run_dir / EXPORT_RECORD}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from yolocls.inference.onnx_predictor import resolve_model_path
    from yolocls.serving.protocol import HeaderDeadlineProtocol
    from yolocls.serving.settings import ServeSettings

    cli = {"model": args.model, "host": args.host, "port": args.port, "workers": args.workers,
           "max_batch": args.max_batch, "max_wait_ms": args.max_wait_ms,
           "capture_dir": args.capture.expanduser().resolve() if args.capture else None,
           "capture_below": args.capture_below, "capture_sample": args.capture_sample,
           "capture_max_files": args.capture_max_files, "capture_max_bytes": args.capture_max_bytes}
    for key, value in cli.items():
        if value is not None:
            os.environ[f"YOLOCLS_{key.upper()}"] = str(value)
    if not os.environ.get("YOLOCLS_MODEL"):
        raise ConfigError("--model PATH (or YOLOCLS_MODEL) is required: an exported .onnx file or a run folder")
    capture = os.environ.get("YOLOCLS_CAPTURE_DIR")
    if capture:  # a folder the server cannot write is said now, in one line, not at the first capture
        try:
            Path(capture).mkdir(parents=True, exist_ok=True)
            if not os.access(capture, os.W_OK):
                raise PermissionError(13, "Permission denied")
        except OSError as exc:
            raise ConfigError(f"--capture {capture}: cannot write there ({exc.strerror})") from None
    settings = ServeSettings()  # type: ignore[call-arg]
    share = str(max(1, available_cpus() // settings.workers))  # worker processes share the CPUs
    if settings.workers > 1 and settings.threads is None:
        os.environ["YOLOCLS_THREADS"] = share
    if settings.workers > 1 and settings.preprocess_threads is None:
        os.environ["YOLOCLS_PREPROCESS_THREADS"] = share
    os.environ["YOLOCLS_MODEL"] = str(resolve_model_path(settings.model).resolve())  # fail fast, clearly
    uvicorn.run("yolocls.serving.app:app_from_env", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_level="info", access_log=False, http=HeaderDeadlineProtocol)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import json
    import os
    import time

    from yolocls.inference.onnx_predictor import OnnxPredictor, resolve_model_path
    from yolocls.inference.predictor import predict_paths
    from yolocls.inference.schemas import ModelRef, PredictResponse, to_predictions

    model_path: Path | None = args.model or (Path(os.environ["YOLOCLS_MODEL"]) if os.environ.get("YOLOCLS_MODEL")
                                             else None)
    if model_path is None:
        raise ConfigError("--model PATH (or YOLOCLS_MODEL) is required: an exported .onnx file or a run folder")
    start = time.perf_counter()
    model = OnnxPredictor(resolve_model_path(model_path))
    probs = predict_paths(model, args.images, batch_size=32)  # bounded memory for many images
    k = min(args.top_k, len(model.classes))
    policy = None if args.no_abstain else model.openset
    response = PredictResponse(
        predictions=to_predictions(probs, [str(p) for p in args.images], model.classes, k, policy),
        model=ModelRef(name=model.name, sha256=model.sha256),
        time_ms=round((time.perf_counter() - start) * 1000, 3))
    if args.json:
        print(json.dumps(response.model_dump(by_alias=True, exclude_none=True), indent=2))
    else:
        for pred in response.predictions:
            answer = pred.class_name or f"unknown (closest: {pred.top[0].class_name})"
            print(f"{pred.filename}: {answer} ({pred.confidence:.3f})")
    if args.explain is not None:
        for written in write_heatmaps(model, args.images, args.explain):
            print(f"heatmap: {written}")
    return 0


def write_heatmaps(model: Any, images: list[Path], out_dir: Path) -> list[Path]:
    """OUT_DIR/<image stem>.heatmap.png for each image (the top class's activation map over the image)."""
    from yolocls.core.fs import atomic_path
    from yolocls.inference.heatmap import check_faithful_grid, overlay_png
    from yolocls.inference.preprocess import load_image, preprocess

    out_dir.mkdir(parents=True, exist_ok=True)
    written, taken = [], set()
    for i, path in enumerate(images):
        bgr = load_image(path)
        probs, cams = model.predict_cam(preprocess(bgr, model.imgsz)[None])
        check_faithful_grid(cams.shape, model.imgsz)
        name = f"{path.stem}.heatmap.png" if path.stem not in taken else f"{path.stem}-{i}.heatmap.png"
        taken.add(path.stem)
        with atomic_path(out_dir / name) as tmp:
            tmp.write_bytes(overlay_png(bgr, cams[0, int(probs[0].argmax())], model.imgsz))
        written.append(out_dir / name)
    return written
