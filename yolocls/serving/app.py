"""The app factory: FastAPI + micro-batched ONNX inference, limits, API key, Prometheus metrics.

The serving side imports neither torch nor Ultralytics (a checked import contract): a serving install
needs ONNX Runtime, OpenCV, Pillow and numpy.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from yolocls import __version__
from yolocls.inference.predictor import ServedModel
from yolocls.serving.engine import ServingState, add_error_handlers, is_loopback, start_state, stop_state
from yolocls.serving.middleware import LimitAndMeasure, Metrics
from yolocls.serving.routes import check_api_key, router
from yolocls.serving.settings import ServeSettings

log = logging.getLogger("yolocls.server")


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


def _add_protected_docs(app: FastAPI) -> None:
    """/openapi.json and /docs behind the same X-API-Key check as the API (health/ready stay open)."""
    from fastapi.openapi.docs import get_swagger_ui_html

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(check_api_key)])
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(check_api_key)])
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="yolocls")


def exposure_warning(settings: ServeSettings) -> str | None:
    """The warning printed when the server listens beyond this machine without an API key."""
    if settings.api_key is None and not is_loopback(settings.host):
        return (f"listening on {settings.host} without YOLOCLS_API_KEY: anyone who can reach port {settings.port} "
                "can use the model; set YOLOCLS_API_KEY to require an X-API-Key header")
    return None


def app_from_env() -> FastAPI:
    """uvicorn factory (`--workers N` imports this in each worker): settings from YOLOCLS_* variables."""
    return create_app(ServeSettings())  # type: ignore[call-arg]
