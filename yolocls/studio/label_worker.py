"""The labelling jobs' worker functions (run in Ray workers, like `studio.worker`'s, which re-exports them):
an upload or captured images checked into a dataset's pool, a version built, a model's suggestions, a label
check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yolocls.studio.jobmodel import IngestResult, LabelCheckResult, SuggestResult, VersionResult, device_in_worker
from yolocls.studio.worker_env import error_line, log_to, ray_gpus, started


def run_ingest(options: dict[str, Any], log: str) -> IngestResult:
    """An upload for labelling ("source": its archive, "csv": its labels) or a folder of captured images
    ("folder") -> its images checked and stored in the dataset's pool ("pool"), their list (images.jsonl,
    scan.json, and for captures captured.jsonl: each image's prediction) in "list" (default: the pool)."""
    with log_to(Path(log)):
        try:
            options = started(options)
            import shutil

            from yolocls.core.limits import available_cpus
            from yolocls.data.archive import extract_archive
            from yolocls.data.pool import scan_pool, write_pool

            pool = Path(options["pool"])
            listing = Path(options.get("list") or pool)
            if options.get("folder"):  # captured from production: images and their .json predictions
                root, csv, sidecars = Path(options["folder"]), None, ".json"
            else:
                source = Path(options["source"])
                extracted = source.parent / "_extracted"
                shutil.rmtree(extracted, ignore_errors=True)  # a try interrupted by a restart
                root, sidecars = extract_archive(source, extracted), None
                csv = Path(options["csv"]).read_bytes() if options.get("csv") else None
            scan = scan_pool(root, pool, csv, progress_file=Path(options["progress_file"]), workers=available_cpus(),
                             sidecars=sidecars)
            listing.mkdir(parents=True, exist_ok=True)
            if sidecars:
                _captured_predictions(root, [im.name for im in scan.images], listing)
            write_pool(scan, listing)
            print(f"{len(scan.images)} images stored for labelling ({sum(im.label is not None for im in scan.images)}"
                  f" with a label), {len(scan.skipped)} skipped", flush=True)
            return IngestResult(ok=True, images=len(scan.images), skipped=len(scan.skipped))
        except BaseException as exc:
            print(f"upload for labelling failed: {error_line(exc)}", flush=True)
            return IngestResult(ok=False, error=error_line(exc))


def _captured_predictions(root: Path, names: list[str], listing: Path) -> None:
    """captured.jsonl: the class each captured image was predicted (top-1, even when answered unknown), its
    confidence and margin, from the JSON written beside it."""
    import json

    from yolocls.core.fs import atomic_write_text

    lines = []
    for name in names:
        try:
            top = json.loads((root / name).with_suffix(".json").read_text(encoding="utf-8"))["prediction"]["top"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not top:
            continue
        second = float(top[1]["confidence"]) if len(top) > 1 else 0.0
        lines.append(json.dumps({"name": name, "label": top[0]["class"], "confidence": float(top[0]["confidence"]),
                                 "margin": float(top[0]["confidence"]) - second}))
    atomic_write_text(listing / "captured.jsonl", "".join(line + "\n" for line in lines))


def run_version(options: dict[str, Any], log: str) -> VersionResult:
    """A labelling snapshot -> the version's dataset folder (prepare's checks and manifest)."""
    with log_to(Path(log)):
        try:
            options = started(options)
            from yolocls.data.version_build import build_version

            result = build_version(Path(options["snapshot"]), Path(options["home"]), Path(options["out"]),
                                   progress_file=Path(options["progress_file"]))
            if result is not None:
                print(f"version written: {len(result.manifest.classes)} classes, {len(result.manifest.files)} "
                      f"images, {len(result.manifest.skipped)} skipped", flush=True)
            return VersionResult(ok=True, out=options["out"])
        except BaseException as exc:
            print(f"version failed: {error_line(exc)}", flush=True)
            return VersionResult(ok=False, error=error_line(exc))


def run_suggest(options: dict[str, Any], log: str) -> SuggestResult:
    """Options {"images" (a JSON-lines list of {id, file}), "home", "model_file" (a deployed ONNX model) or
    "weights" (a run's checkpoint), "out"} -> each image's predicted class, confidence and margin in `out`."""
    with log_to(Path(log)):
        try:
            options = started(options)
            import json

            from yolocls.core.fs import atomic_write_text
            from yolocls.inference.predictor import predict_paths

            if options.get("model_file"):
                from yolocls.inference.onnx_predictor import OnnxPredictor

                model: Any = OnnxPredictor(Path(options["model_file"]))
            else:
                from yolocls.evaluation.torch_predictor import TorchPredictor

                model = TorchPredictor(Path(options["weights"]))
            home = Path(options["home"])
            todo = [json.loads(line) for line in Path(options["images"]).read_text(encoding="utf-8").splitlines()]
            unreadable: set[Path] = set()
            paths = [home / im["file"] for im in todo]
            probs = predict_paths(model, paths, on_unreadable=unreadable.add)
            readable = [im for im, p in zip(todo, paths) if p not in unreadable]
            lines = []
            for im, p in zip(readable, probs):
                top = p.argsort()[::-1]
                margin = float(p[top[0]] - (p[top[1]] if len(top) > 1 else 0.0))
                lines.append(json.dumps({"id": im["id"], "label": model.classes[int(top[0])],
                                         "confidence": round(float(p[top[0]]), 6), "margin": round(margin, 6)}))
            atomic_write_text(Path(options["out"]), "\n".join(lines) + "\n")
            print(f"{len(lines)} suggestions ({len(unreadable)} images unreadable)", flush=True)
            return SuggestResult(ok=True, images=len(lines))
        except BaseException as exc:
            print(f"suggestions failed: {error_line(exc)}", flush=True)
            return SuggestResult(ok=False, error=error_line(exc))


def run_label_check(options: dict[str, Any], log: str) -> LabelCheckResult:
    """CheckOptions as a dict (a dataset version's folder) -> label_issues.csv in its folder under runs/."""
    with log_to(Path(log)):
        try:
            options = started(options)
            from yolocls.evaluation.label_check import CheckOptions, check_labels

            train = {**options["train"], "device": device_in_worker(options["train"].get("device"), ray_gpus())}
            result = check_labels(CheckOptions.model_validate({**options, "train": train, "quiet": False}))
            print(f"{result.issues} suspected label errors among {result.images} images", flush=True)
            return LabelCheckResult(ok=True, folder=result.folder.name, images=result.images, issues=result.issues)
        except BaseException as exc:
            print(f"label check failed: {error_line(exc)}", flush=True)
            return LabelCheckResult(ok=False, error=error_line(exc))
