"""The app factory: FastAPI + micro-batched ONNX inference, limits, API key, Prometheus metrics.

The serving side imports neither torch nor Ultralytics (a checked import contract): a serving install
needs ONNX Runtime, OpenCV, Pillow and numpy.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from yolocls import __version__
from yolocls.core.errors import YoloclsError
from yolocls.core.limits import available_cpus
from yolocls.inference.predictor import ServedModel
from yolocls.serving.admission import PixelBudget
from yolocls.serving.batching import MicroBatcher
from yolocls.serving.middleware import LimitAndMeasure, Metrics
from yolocls.serving.routes import ServingState, check_api_key, router
from yolocls.serving.settings import ServeSettings

log = logging.getLogger("yolocls.server")


def _return_big_images_to_the_os() -> None:
    """Pillow allocates image memory in 16 MB blocks, below glibc's mmap threshold: each decode thread's
    malloc arena then keeps a big image's memory after it is freed. 64 MB blocks are mmapped and given
    back on free (measured: peak server memory under bench/serve_adversarial.py +507 MB -> +307 MB)."""
    from PIL import Image

    if "PILLOW_BLOCK_SIZE" not in os.environ:
        Image.core.set_block_size(64 * 1024 * 1024)


async def start_state(state: ServingState, model: ServedModel) -> None:
    """Load-time half of a served model: decode pool, pixel budget, micro-batcher."""
    settings = state.settings
    _return_big_images_to_the_os()
    state.model = model
    state.prep = ThreadPoolExecutor(max_workers=settings.preprocess_threads or available_cpus(),
                                    thread_name_prefix="yolocls-prep")
    state.budget = PixelBudget(settings.inflight_pixels)
    batcher = MicroBatcher(model.predict, settings.max_batch, settings.max_wait_ms,
                           on_batch=state.metrics.batch.observe)
    await batcher.start()
    state.batcher = batcher
    log.info("model loaded: %s (%d classes, imgsz %d)", model.name, len(model.classes),
             model.imgsz)


async def stop_state(state: ServingState) -> None:
    batcher, state.batcher = state.batcher, None
    if batcher is not None:
        await batcher.stop()
    if state.prep is not None:
        state.prep.shutdown(wait=False, cancel_futures=True)


def _load_model(settings: ServeSettings) -> ServedModel:
    from yolocls.inference.onnx_predictor import OnnxPredictor, resolve_model_path

    return OnnxPredictor(resolve_model_path(settings.model), threads=settings.threads)


def create_app(settings: ServeSettings | None = None, predictor: ServedModel | None = None) -> FastAPI:
    """Build the app. `predictor` injects a ready model (a ServedModel); else settings.model is loaded."""
    settings = settings or ServeSettings()  # type: ignore[call-arg]
    state = ServingState(settings=settings, metrics=Metrics())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await start_state(state, predictor or _load_model(settings))
        warning = exposure_warning(settings)
        if warning:
            log.warning(warning)
        try:
            yield
        finally:
            await stop_state(state)

    protected = settings.api_key is not None  # then the API description needs the key too
    app = FastAPI(title="yolocls", version=__version__, lifespan=lifespan,
                  description="Image classification with a YOLOv8 model exported by yolocls.",
                  docs_url=None if protected else "/docs", redoc_url=None,
                  openapi_url=None if protected else "/openapi.json")
    app.state.serving = state
    if protected:
        _add_protected_docs(app)

    add_error_handlers(app, log)
    app.include_router(router)
    app.add_middleware(LimitAndMeasure, max_body_bytes=settings.max_body_bytes,  # type: ignore[arg-type]
                       max_inflight_bytes=settings.max_inflight_body_bytes, metrics=state.metrics)
    return app


def add_error_handlers(app: FastAPI, logger: logging.Logger, scrub: Callable[[str], str] = str) -> None:
    """A user's mistake -> its status and a JSON `detail` (passed through `scrub`, which may remove server
    paths); anything else -> 500, logged, no traceback sent. A full disk is 507."""

    @app.exception_handler(YoloclsError)
    async def on_user_error(request: Request, exc: YoloclsError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": scrub(str(exc))},
                            headers=exc.headers or None)

    @app.exception_handler(OSError)
    async def on_os_error(request: Request, exc: OSError) -> JSONResponse:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            logger.error("disk full on %s: %s", request.url.path, exc)
            return JSONResponse(status_code=507, content={"detail": "the server's disk is full; free space on "
                                                          "it (or ask its administrator) and retry"})
        logger.exception("unhandled error on %s", request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal server error"})

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s", request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal server error"})


def _add_protected_docs(app: FastAPI) -> None:
    """/openapi.json and /docs behind the same X-API-Key check as the API (health/ready stay open)."""
    from fastapi.openapi.docs import get_swagger_ui_html

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(check_api_key)])
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(check_api_key)])
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="yolocls")


def is_loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


def exposure_warning(settings: ServeSettings) -> str | None:
    """The warning printed when the server listens beyond this machine without an API key."""
    if settings.api_key is None and not is_loopback(settings.host):
        return (f"listening on {settings.host} without YOLOCLS_API_KEY: anyone who can reach port {settings.port} "
                "can use the model; set YOLOCLS_API_KEY to require an X-API-Key header")
    return None


def app_from_env() -> FastAPI:
    """uvicorn factory (`--workers N` imports this in each worker): settings from YOLOCLS_* variables."""
    return create_app(ServeSettings())  # type: ignore[call-arg]
