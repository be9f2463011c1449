"""The app factory: FastAPI + micro-batched ONNX inference, limits, API key, Prometheus metrics.

The serving side imports neither torch nor Ultralytics (a checked import contract): a serving install
needs ONNX Runtime, OpenCV, Pillow and numpy.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from yolocls import __version__
from yolocls.core.errors import YoloclsError
from yolocls.inference.predictor import Predictor
from yolocls.serving.batching import MicroBatcher
from yolocls.serving.middleware import LimitAndMeasure, Metrics
from yolocls.serving.routes import ServingState, router
from yolocls.serving.settings import ServeSettings

log = logging.getLogger("yolocls.server")


def _load_model(settings: ServeSettings) -> Predictor:
    from yolocls.inference.onnx_predictor import OnnxPredictor, resolve_model_path

    return OnnxPredictor(resolve_model_path(settings.model), threads=settings.threads)


def create_app(settings: ServeSettings | None = None, predictor: Predictor | None = None) -> FastAPI:
    """Build the app. `predictor` injects a ready model (any Predictor); else settings.model is loaded."""
    settings = settings or ServeSettings()  # type: ignore[call-arg]
    state = ServingState(settings=settings, metrics=Metrics())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        model = predictor or _load_model(settings)
        state.model = model
        state.prep = ThreadPoolExecutor(max_workers=settings.preprocess_threads or (os.cpu_count() or 1),
                                        thread_name_prefix="yolocls-prep")
        batcher = MicroBatcher(model.predict, settings.max_batch, settings.max_wait_ms,
                               on_batch=state.metrics.batch.observe)
        await batcher.start()
        state.batcher = batcher
        log.info("model loaded: %s (%d classes, imgsz %d)", getattr(model, "path", "injected"),
                 len(model.classes), model.imgsz)
        try:
            yield
        finally:
            state.batcher = None
            await batcher.stop()
            state.prep.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="yolocls", version=__version__, lifespan=lifespan,
                  description="Image classification with a YOLOv8 model exported by yolocls.")
    app.state.serving = state

    @app.exception_handler(YoloclsError)
    async def on_user_error(request: Request, exc: YoloclsError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": str(exc)})

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal server error"})

    app.include_router(router)
    app.add_middleware(LimitAndMeasure, max_body_bytes=settings.max_body_bytes,  # type: ignore[arg-type]
                       metrics=state.metrics)
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory (`--workers N` imports this in each worker): settings from YOLOCLS_* variables."""
    return create_app(ServeSettings())  # type: ignore[call-arg]
