"""An exported ONNX model as a Predictor: ONNX Runtime + numpy only (no torch, no Ultralytics)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import numpy as np

from yolocls.core.errors import ModelError
from yolocls.core.fs import file_sha256
from yolocls.core.limits import available_cpus
from yolocls.core.runlayout import EXPORT_RECORD, onnx_path
from yolocls.inference.openset import OpenSetPolicy, policy_of

META_KEY = "yolocls"


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
        opts.intra_op_num_threads = threads or available_cpus()
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
        self.openset: OpenSetPolicy | None = policy_of(meta)  # validated once, at load
        self.sha256 = file_sha256(path)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        outputs = [o.name for o in self.session.get_outputs()]
        self.output_name = outputs[0]
        self.cam_output: str | None = meta.get("cam_output") if meta.get("cam_output") in outputs else None
        self.fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) and inp.shape[0] > 0 else None
        self._check_input(list(inp.shape))
        self.name = str(meta.get("source_run") or path.stem)
        self.explains = self.cam_output is not None

    def _check_input(self, shape: list[object]) -> None:
        """Refuse at load what would fail on every request: wrong rank or a fixed size other than imgsz."""
        if len(shape) != 4:
            raise ModelError(f"{self.path}: input '{self.input_name}' has shape {shape}; expected (N, 3, H, W)")
        fixed_hw = [d for d in shape[2:] if isinstance(d, int)]
        if any(d != self.imgsz for d in fixed_hw) or (isinstance(shape[1], int) and shape[1] != 3):
            raise ModelError(f"{self.path}: input shape {shape} does not match imgsz {self.imgsz} with 3 channels "
                             "(its metadata); re-export the model with `yolocls export`")

    def _run(self, outputs: list[str], batch: np.ndarray) -> list[np.ndarray]:
        """The named outputs for any N: a model exported with a fixed batch size is fed full batches, the last
        one zero-padded (padded rows are dropped)."""
        fixed = self.fixed_batch
        if not fixed or len(batch) == fixed:
            return [np.asarray(o, np.float32) for o in self.session.run(outputs, {self.input_name: batch})]
        parts: list[list[np.ndarray]] = [[] for _ in outputs]
        for start in range(0, len(batch), fixed):
            chunk = batch[start:start + fixed]
            n = len(chunk)
            if n < fixed:
                chunk = np.concatenate([chunk, np.zeros((fixed - n, *chunk.shape[1:]), dtype=chunk.dtype)])
            for acc, out in zip(parts, self.session.run(outputs, {self.input_name: chunk})):
                acc.append(np.asarray(out, np.float32)[:n])
        return [np.concatenate(acc) if acc else np.zeros((0, len(self.classes)), np.float32) for acc in parts]

    def predict_cam(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (N, classes), class activation maps (N, classes, h, w)) for an explanation."""
        if self.cam_output is None:
            raise ModelError(f"{self.path}: this model has no class-activation output; re-export it with "
                             "`yolocls export` to get heatmaps")
        probs, cams = self._run([self.output_name, self.cam_output], batch)
        return probs, cams

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, imgsz, imgsz) float32 -> (N, classes) probabilities, for any N. Only the probabilities are asked
        for: the class-activation output costs nothing unless wanted."""
        return self._run([self.output_name], batch)[0]


def _exported_file(record: Path) -> str:
    """export.json's `path` (relative to the run folder), with a clear error when the record is damaged."""
    try:
        value = json.loads(record.read_text(encoding="utf-8")).get("path")
    except (ValueError, AttributeError, OSError) as exc:
        raise ModelError(f"{record}: unreadable export record ({exc}); run `yolocls export` again") from None
    if not isinstance(value, str) or not value or Path(value).is_absolute() or ".." in Path(value).parts:
        raise ModelError(f"{record}: no valid 'path' to the exported model; run `yolocls export` again")
    return value


def resolve_model_path(path: Path) -> Path:
    """An exported .onnx file, or a run folder (its export.json's file, else weights/best.onnx)."""
    path = path.expanduser()
    if path.is_dir():
        record = path / EXPORT_RECORD
        if record.is_file():
            candidate = path / _exported_file(record)
            if candidate.suffix == ".onnx" and candidate.is_file():
                return candidate
        candidate = onnx_path(path)
        if candidate.is_file():
            return candidate
        raise ModelError(f"{path}: no exported ONNX model; run `yolocls export {path}` first")
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    if path.suffix.lower() in (".pt", ".pth"):
        raise ModelError(f"{path}: .pt checkpoints are not served (they are pickles); run `yolocls export` and "
                         "serve the .onnx file")
    return path
