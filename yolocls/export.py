"""`yolocls export`: ONNX (default) / TorchScript / OpenVINO with embedded metadata and a parity check."""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field
from tqdm import tqdm

from yolocls import __version__
from yolocls.core.errors import ConfigError, ModelError, YoloclsError
from yolocls.core.fs import atomic_path, atomic_write_text, file_sha256, publish_dir, staging_dir
from yolocls.core.runlayout import EXPORT_FAILED_RECORD, EXPORT_RECORD
from yolocls.data.layout import choose_split, list_split
from yolocls.evaluation.openset import KNOWN_RECALL, TARGET_PRECISION, fit_policy
from yolocls.inference.cam_graph import CAM_OUTPUT, add_cam_output
from yolocls.inference.onnx_predictor import META_KEY, OnnxPredictor
from yolocls.inference.openset import OpenSetPolicy
from yolocls.inference.predictor import predict_paths
from yolocls.training.rundir import dataset_of_run, run_weights

MIN_AGREEMENT = 0.995
MAX_PROB_DIFF = 1e-3
PREPROCESSING = {
    "decode": "BGR as cv2.imread/cv2.imdecode, then converted to RGB",
    "resize": "shorter side to imgsz, PIL bilinear (torchvision Resize(imgsz)), longer side int(imgsz*long/short)",
    "crop": "centre crop imgsz x imgsz, offsets round((size - imgsz) / 2)",
    "scale": "float32 / 255, no mean/std normalisation",
    "layout": "NCHW float32",
    "output": "softmax probabilities (do not apply softmax again)",
}


class ParityFailed(YoloclsError):
    """The exported model disagrees with the .pt model beyond the thresholds."""


class Parity(BaseModel):
    split: str
    images: int
    top1_agreement: float
    max_prob_diff: float
    min_agreement: float = MIN_AGREEMENT
    max_allowed_diff: float = MAX_PROB_DIFF
    passed: bool


class ExportRecord(BaseModel):
    """`RUN_DIR/export.json`: what was exported and proof it matches the trained model."""

    format: str
    path: str = Field(description="Exported file, relative to the run folder")
    sha256: str
    classes: list[str]
    imgsz: int
    dynamic_batch: bool
    source_weights: str
    preprocessing: dict[str, str]
    parity: Parity
    openset: OpenSetPolicy | None = Field(default=None, description="Temperature and per-class thresholds fitted on "
                                          "the parity split's .pt probabilities, embedded in the model's metadata")
    created: datetime
    yolocls_version: str


class ExportOptions(BaseModel):
    run_dir: Path
    format: Literal["onnx", "torchscript", "openvino"] = "onnx"
    imgsz: int | None = None
    weights: Literal["best", "last"] = "best"
    data: Path | None = None
    openset: bool = True
    target_precision: float = Field(default=TARGET_PRECISION, gt=0, le=1)
    known_recall: float = Field(default=KNOWN_RECALL, gt=0, le=1)
    copy_to: Path | None = Field(default=None, description="Also place this export's own verified file here "
                                 "(ONNX), so concurrent exports of one run never hand over each other's file")


def _embed_onnx_metadata(path: Path, meta: dict) -> None:
    """Our metadata, and the class-activation output (`cam`) when the head is the standard one."""
    import onnx

    model = onnx.load(str(path))
    if add_cam_output(model):
        meta = {**meta, "cam_output": CAM_OUTPUT}
    props = {p.key: p for p in model.metadata_props}
    if META_KEY in props:
        props[META_KEY].value = json.dumps(meta)
    else:
        entry = model.metadata_props.add()
        entry.key, entry.value = META_KEY, json.dumps(meta)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))


class _TorchScriptPredictor:
    def __init__(self, path: Path, classes: list[str], imgsz: int) -> None:
        import torch

        self.model, self.classes, self.imgsz, self._torch = torch.jit.load(str(path), map_location="cpu"), classes, \
            imgsz, torch

    def predict(self, batch: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            out = self.model(self._torch.from_numpy(batch))
        return (out[0] if isinstance(out, (list, tuple)) else out).float().numpy()


class _OpenVinoPredictor:
    def __init__(self, folder: Path, classes: list[str], imgsz: int) -> None:
        import openvino as ov

        xml = next(folder.glob("*.xml"))
        self.compiled = ov.Core().compile_model(str(xml), "CPU")
        self.classes, self.imgsz = classes, imgsz

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(self.compiled(batch[i:i + 1])[0]) for i in range(len(batch))])


def _runtime_model(fmt: str, path: Path, classes: list[str], imgsz: int):  # type: ignore[no-untyped-def]
    if fmt == "onnx":
        return OnnxPredictor(path)
    if fmt == "torchscript":
        return _TorchScriptPredictor(path, classes, imgsz)
    return _OpenVinoPredictor(path, classes, imgsz)


def _reference_probs(model: Any, paths: list[Path], imgsz: int) -> np.ndarray:
    """The .pt model (a loaded `YOLO`) through Ultralytics' own predict pipeline (its loading and transforms)."""
    out: list[np.ndarray] = []
    for start in range(0, len(paths), 32):
        results: Any = model.predict([str(p) for p in paths[start:start + 32]], imgsz=imgsz, device="cpu",
                                     verbose=False, batch=32)
        out.extend(r.probs.data.float().cpu().numpy() for r in results)
    return np.stack(out)


def check_parity(reference: np.ndarray, exported: np.ndarray, split: str) -> Parity:
    agreement = float((reference.argmax(1) == exported.argmax(1)).mean())
    diff = float(np.abs(reference - exported).max())
    return Parity(split=split, images=len(reference), top1_agreement=agreement, max_prob_diff=diff,
                  passed=agreement >= MIN_AGREEMENT and diff <= MAX_PROB_DIFF)


def _export_staged(weights: Path, staging: Path, fmt: str, imgsz: int) -> Path:
    """Ultralytics' exporter on a copy of the weights inside `staging` (it writes beside its input)."""
    from ultralytics import YOLO

    staged = staging / weights.name
    shutil.copy2(weights, staged)
    kwargs: dict = {"format": fmt, "imgsz": imgsz, "device": "cpu", "verbose": False}
    if fmt == "onnx":
        kwargs.update(dynamic=True, simplify=True)
    try:
        return Path(YOLO(str(staged), task="classify").export(**kwargs))
    except Exception as exc:
        raise ModelError(f"export to {fmt} failed: {type(exc).__name__}: {exc}") from exc


def _publish(exported: Path, final: Path) -> None:
    if exported.is_dir():  # OpenVINO writes a folder
        publish_dir(exported, final, overwrite=True)
    else:
        os.replace(exported, final)


def export_model(opts: ExportOptions) -> ExportRecord:
    """Export, check parity against the .pt model on the val split, then publish (never a failed export)."""
    from yolocls.core.offline import import_ultralytics

    import_ultralytics()
    from yolocls.evaluation.torch_predictor import TorchPredictor

    run_dir, weights = run_weights(opts.run_dir, opts.weights, "export")
    if opts.format == "openvino":
        try:
            import openvino  # noqa: F401
        except ImportError:
            raise ConfigError("--format openvino needs the openvino package: pip install openvino") from None
    torch_model = TorchPredictor(weights)
    imgsz = opts.imgsz or torch_model.imgsz
    classes = torch_model.classes
    dataset = dataset_of_run(run_dir, opts.data)
    split = choose_split(dataset, "val")
    paths, labels = list_split(dataset, split, classes)
    # Export into a staging folder; publish only after the parity check, so a failed or interrupted
    # export never replaces a good model that a server may be using.
    with staging_dir(weights.parent / "export") as staging:
        exported = _export_staged(weights, staging, opts.format, imgsz)
        reference = _reference_probs(torch_model.yolo, paths, imgsz)
        policy = fit_policy(reference, labels, classes, opts.target_precision, opts.known_recall) \
            if opts.openset and len(paths) else None
        if opts.format == "onnx":
            _embed_onnx_metadata(exported, {"classes": classes, "imgsz": imgsz, "source_run": run_dir.name,
                                            "format": opts.format, "preprocessing": PREPROCESSING,
                                            **({"openset": policy.model_dump()} if policy else {})})
        runtime = _runtime_model(opts.format, exported, classes, imgsz)
        with tqdm(total=len(paths), desc=f"parity check ({opts.format})", unit="img", file=sys.stderr,
                  disable=None) as bar:
            parity = check_parity(reference, predict_paths(runtime, paths, on_batch=bar.update), split)
        final = weights.parent / exported.name
        sha = file_sha256(exported) if exported.is_file() else file_sha256(next(exported.glob("*.bin")))
        record = ExportRecord(
            format=opts.format, path=str(final.relative_to(run_dir)), sha256=sha, classes=classes, imgsz=imgsz,
            dynamic_batch=opts.format == "onnx", source_weights=str(weights.relative_to(run_dir)),
            preprocessing=PREPROCESSING, parity=parity, openset=policy, created=datetime.now(timezone.utc),
            yolocls_version=__version__)
        if not parity.passed:
            _write_record(record, run_dir / EXPORT_FAILED_RECORD)
            raise ParityFailed(
                f"parity check FAILED on {parity.images} {split} images: top-1 agreement "
                f"{parity.top1_agreement:.4f} (need >= {MIN_AGREEMENT}), max probability difference "
                f"{parity.max_prob_diff:.2e} (need <= {MAX_PROB_DIFF}); nothing was published (details in "
                f"{run_dir / EXPORT_FAILED_RECORD})")
        if opts.copy_to is not None and exported.is_file():
            with atomic_path(opts.copy_to) as tmp:
                shutil.copyfile(exported, tmp)
        _publish(exported, final)
        _write_record(record, run_dir / EXPORT_RECORD)
    return record


def _write_record(record: ExportRecord, path: Path) -> None:
    atomic_write_text(path, record.model_dump_json(indent=2))
