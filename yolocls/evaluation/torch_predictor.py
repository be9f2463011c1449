"""A `.pt` checkpoint as a Predictor (torch + Ultralytics; used by report and export parity, never serving)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from yolocls.core.errors import ModelError
from yolocls.core.offline import import_ultralytics


class TorchPredictor:
    """Runs the Ultralytics classification model itself on batches from the shared preprocessing."""

    def __init__(self, weights: Path, device: str = "cpu") -> None:
        import_ultralytics()
        import torch
        from ultralytics import YOLO

        if not weights.is_file():
            raise ModelError(f"{weights}: weights file not found")
        yolo = YOLO(str(weights), task="classify")
        if yolo.task != "classify":
            raise ModelError(f"{weights}: a '{yolo.task}' model, not a classification model")
        self.device = torch.device("cuda:0" if device != "cpu" and torch.cuda.is_available() else "cpu")
        self.yolo = yolo  # the Ultralytics wrapper, for callers that want its own predict pipeline
        net: Any = yolo.model
        self.model = net.to(self.device).float().eval()
        names = net.names
        self.classes = [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)
        args = getattr(net, "args", {}) or {}
        imgsz = args.get("imgsz", 224) if isinstance(args, dict) else getattr(args, "imgsz", 224)
        self.imgsz = int(imgsz[0] if isinstance(imgsz, (list, tuple)) else imgsz)
        self._torch = torch

    def predict(self, batch: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            out = self.model(self._torch.from_numpy(batch).to(self.device))
        if isinstance(out, (list, tuple)):  # eval mode returns (probabilities, logits)
            out = out[0]
        return out.float().cpu().numpy()

    def predict_cam(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, class activation maps (N, classes, h, w)): the head's last feature map weighted by
        its linear layer (the exported model's `cam` output computes the same)."""
        head = self.model.model[-1]
        features: list[Any] = []
        handle = head.conv.register_forward_hook(lambda module, inputs, output: features.append(output))
        try:
            probs = self.predict(batch)
        finally:
            handle.remove()
        with self._torch.inference_mode():
            cams = self._torch.einsum("ck,nkhw->nchw", head.linear.weight, features[0]) \
                + head.linear.bias[None, :, None, None]
        return probs, cams.float().cpu().numpy()
