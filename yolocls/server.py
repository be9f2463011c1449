"""The HTTP service: FastAPI app factory, micro-batched ONNX inference, limits, API key, Prometheus metrics.

Imports neither torch nor Ultralytics: a serving install needs ONNX Runtime, OpenCV, Pillow and numpy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import Depends, FastAPI, File, Header, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from yolocls import __version__
from yolocls.batching import MicroBatcher
from yolocls.classifier import Classifier
from yolocls.errors import YoloclsError
from yolocls.preprocess import preprocess_bytes
from yolocls.schemas import Detail, ModelInfo, ModelRef, PredictResponse, to_predictions
from yolocls.settings import ServeSettings

log = logging.getLogger("yolocls.server")
KNOWN_PATHS = {"/predict", "/health", "/ready", "/model", "/metrics", "/docs", "/openapi.json"}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    s: {"model": Detail} for s in (401, 413, 415, 422, 503)}

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Metrics:
    """Prometheus collectors in a registry of this app's own (several apps in one process stay separate)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("yolocls_requests_total", "HTTP requests", ["path", "status"],
                                registry=self.registry)
        self.latency = Histogram("yolocls_request_duration_seconds", "Request latency", ["path"],
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10), registry=self.registry)
        self.batch = Histogram("yolocls_batch_size", "Images per model call (micro-batching)",
                               buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)
        self.images = Counter("yolocls_images_total", "Images classified", registry=self.registry)


async def _json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class LimitAndMeasure:
    """ASGI middleware: rejects bodies over the byte limit with 413 before parsing, and records metrics."""

    def __init__(self, app: ASGIApp, settings: ServeSettings, metrics: Metrics) -> None:
        self.app, self.limit, self.metrics = app, settings.max_body_bytes, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            replay = await self._buffer_body(scope, receive, send_wrapper)
            if replay is not None:
                await self.app(scope, replay, send_wrapper)
        finally:
            self.metrics.requests.labels(path, str(status["code"])).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)

    async def _buffer_body(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """Read the whole body (up to the limit) so an oversized upload is refused before any parsing."""
        too_big = f"request body exceeds {self.limit} bytes (YOLOCLS_MAX_BODY_BYTES)"
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _json(send, 413, too_big)
            return None
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            return receive
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _json(send, 413, too_big)
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


def create_app(settings: ServeSettings | None = None, classifier: Classifier | None = None) -> FastAPI:
    """Build the app. `classifier` injects a ready model (any Classifier); else settings.model is loaded."""
    settings = settings or ServeSettings()  # type: ignore[call-arg]
    metrics = Metrics()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        model = classifier
        if model is None:
            from yolocls.onnx_model import OnnxClassifier, resolve_model_path

            model = OnnxClassifier(resolve_model_path(settings.model), threads=settings.threads)
        state["model"] = model
        state["prep"] = ThreadPoolExecutor(max_workers=settings.preprocess_threads or (os.cpu_count() or 1),
                                           thread_name_prefix="yolocls-prep")
        batcher = MicroBatcher(model.predict, settings.max_batch, settings.max_wait_ms,
                               on_batch=metrics.batch.observe)
        await batcher.start()
        state["batcher"] = batcher
        log.info("model loaded: %s (%d classes, imgsz %d)", getattr(model, "path", "injected"),
                 len(model.classes), model.imgsz)
        try:
            yield
        finally:
            await batcher.stop()
            state["prep"].shutdown(wait=False, cancel_futures=True)
            state.clear()

    app = FastAPI(title="yolocls", version=__version__, lifespan=lifespan,
                  description="Image classification with a YOLOv8 model exported by yolocls.")

    async def check_api_key(x_api_key: str | None = Header(default=None)) -> None:
        expected = settings.api_key.get_secret_value() if settings.api_key else None
        if expected and not (x_api_key and secrets.compare_digest(x_api_key.encode(), expected.encode())):
            raise HTTPException(status_code=401, detail="missing or invalid X-API-Key header")

    def model_ref() -> ModelRef:
        model = state["model"]
        return ModelRef(name=_model_name(model), sha256=getattr(model, "sha256", ""))

    @app.exception_handler(YoloclsError)
    async def on_user_error(request: Request, exc: YoloclsError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": str(exc)})

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal server error"})

    @app.get("/health", summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: the model is loaded", responses={503: {"model": Detail}})
    async def ready() -> JSONResponse:
        if "batcher" in state:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"detail": "model not loaded"}, status_code=503)

    @app.get("/model", response_model=ModelInfo, dependencies=[Depends(check_api_key)],
             responses={401: {"model": Detail}})
    async def model_info() -> ModelInfo:
        model = state["model"]
        meta = getattr(model, "metadata", {}) or {}
        return ModelInfo(name=_model_name(model), format="onnx", sha256=getattr(model, "sha256", ""),
                         classes=model.classes, imgsz=model.imgsz, source_run=meta.get("source_run"),
                         preprocessing=meta.get("preprocessing"))

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/predict", response_model=PredictResponse, dependencies=[Depends(check_api_key)],
              responses=ERROR_RESPONSES, summary="Classify one or more images")
    async def predict(
        file: list[UploadFile] = File(..., description="One or more images, each in a part named 'file'"),
        top_k: int | None = Query(default=None, ge=1, le=1000, description="Classes per image (default 5)"),
    ) -> PredictResponse:
        start = time.perf_counter()
        if len(file) > settings.max_files:
            raise HTTPException(status_code=413, detail=f"{len(file)} files in one request; the limit is "
                                                        f"{settings.max_files} (YOLOCLS_MAX_FILES)")
        model = state["model"]
        loop = asyncio.get_running_loop()
        names = [f.filename or f"file{i}" for i, f in enumerate(file)]
        datas = [f.file.read() for f in file]
        batcher: MicroBatcher = state["batcher"]
        batcher.announce(len(datas))
        try:
            samples = await asyncio.gather(*[
                loop.run_in_executor(state["prep"], preprocess_bytes, data, model.imgsz, name, settings.max_pixels)
                for data, name in zip(datas, names)])
        except BaseException:
            batcher.withdraw(len(datas))
            raise
        rows = await asyncio.gather(*[batcher.submit(s) for s in samples])
        metrics.images.inc(len(rows))
        k = min(top_k or settings.default_top_k, len(model.classes))
        return PredictResponse(predictions=to_predictions(np.stack(rows), names, model.classes, k),
                               model=model_ref(), time_ms=round((time.perf_counter() - start) * 1000, 3))

    app.add_middleware(LimitAndMeasure, settings=settings, metrics=metrics)  # type: ignore[arg-type]
    return app


def _model_name(model: Classifier) -> str:
    return str(getattr(model, "name", None) or type(model).__name__)


def app_from_env() -> FastAPI:
    """uvicorn factory (`--workers N` imports this in each worker): settings from YOLOCLS_* variables."""
    return create_app(ServeSettings())  # type: ignore[call-arg]
