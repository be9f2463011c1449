"""Naive baselines users write with Ultralytics in FastAPI (for bench/serve.py).

- `/predict`: literally `YOLO("best.pt").predict(...)` inside the handler, per request.
- `/predict-loaded`: a stronger baseline, the YOLO model loaded once at import and shared.

    YOLOCLS_BENCH_WEIGHTS=runs/x/weights/best.pt YOLOCLS_BENCH_IMGSZ=320 uvicorn bench.naive_server:app
"""

from __future__ import annotations

import os

import cv2
import numpy as np
from fastapi import FastAPI, File, UploadFile

os.environ.setdefault("YOLO_OFFLINE", "true")
from ultralytics import YOLO  # noqa: E402

weights = os.environ["YOLOCLS_BENCH_WEIGHTS"]
model = YOLO(weights, task="classify")
imgsz = int(os.environ.get("YOLOCLS_BENCH_IMGSZ", "320"))
app = FastAPI()


def _answer(yolo: YOLO, file: UploadFile) -> dict:
    img = cv2.imdecode(np.frombuffer(file.file.read(), np.uint8), cv2.IMREAD_COLOR)
    r = yolo.predict(img, imgsz=imgsz, verbose=False)[0]
    return {"class": r.names[int(r.probs.top1)], "confidence": float(r.probs.top1conf)}


@app.post("/predict")
def predict(file: UploadFile = File(...)) -> dict:
    return _answer(YOLO(weights, task="classify"), file)


@app.post("/predict-loaded")
def predict_loaded(file: UploadFile = File(...)) -> dict:
    return _answer(model, file)
