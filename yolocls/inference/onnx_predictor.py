"""An exported ONNX model as a Predictor: ONNX Runtime + numpy only (no torch, no Ultralytics)."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from yolocls.core.errors import ModelError
from yolocls.core.fs import file_sha256

META_KEY = "yolocls"
EXPORT_RECORD = "export.json"  # written by `yolocls export` into the run folder


def read_metadata(custom: dict[str, str]) -> dict[str, Any]:
    """Our JSON metadata, else Ultralytics' own (`names` as a dict literal, `imgsz` as a list literal)."""
    if META_KEY in custom:
        return dict(json.loads(custom[META_KEY]))
    if "names" in custom and "imgsz" in custom:
        names = ast.literal_eval(custom["names"])
        imgsz = ast.literal_eval(custom["imgsz"])
        return {"classes": [names[i] for i in sorted(names)], "imgsz": int(imgsz[0] if isinstance(imgsz, list)
                                                                              else imgsz)}
    raise ModelError("model file has no class names/imgsz metadata; export it with `yolocls export`")


class OnnxPredictor:
    """Thread-safe: ONNX Runtime's `InferenceSession.run` may be called from several threads."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        if not path.is_file():
            raise ModelError(f"{path}: model file not found")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle inference threads must not spin: in a server they would steal the cores decoding needs.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"{path}: not a loadable ONNX model ({exc})") from exc
        meta = read_metadata(self.session.get_modelmeta().custom_metadata_map)
        self.path = path
        self.classes: list[str] = list(meta["classes"])
        self.imgsz: int = int(meta["imgsz"])
        self.metadata = meta
        self.sha256 = file_sha256(path)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        self.name = str(meta.get("source_run") or path.stem)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        if self.fixed_batch and len(batch) != self.fixed_batch:
            return np.concatenate([self.predict(batch[i:i + 1]) for i in range(len(batch))])
        return np.asarray(self.session.run(None, {self.input_name: batch})[0], dtype=np.float32)


def resolve_model_path(path: Path) -> Path:
    """An exported .onnx file, or a run folder (its export.json's file, else weights/best.onnx)."""
    path = path.expanduser()
    if path.is_dir():
        record = path / EXPORT_RECORD
        if record.is_file():
            candidate = path / json.loads(record.read_text())["path"]
            if candidate.suffix == ".onnx" and candidate.is_file():
                return candidate
        candidate = path / "weights" / "best.onnx"
        if candidate.is_file():
            return candidate
        raise ModelError(f"{path}: no exported ONNX model; run `yolocls export {path}` first")
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    if path.suffix.lower() in (".pt", ".pth"):
        raise ModelError(f"{path}: .pt checkpoints are not served (they are pickles); run `yolocls export` and "
                         "serve the .onnx file")
    return path
