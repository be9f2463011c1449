"""The studio app factory: database (migrated), Ray engine, scheduler loop, routers under /api/v1."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse

from yolocls import __version__
from yolocls.serving.engine import LimitAndMeasure, Metrics, add_error_handlers
from yolocls.studio.api import (
    classes,
    compare,
    curves,
    datasets,
    jobs,
    labels,
    models,
    presets,
    relabel,
    runs,
    status,
    suggest,
    sweeps,
    versions,
)
from yolocls.studio.api.auth import require_key
from yolocls.studio.db import Database, migrate
from yolocls.studio.guard import Guard
from yolocls.studio.jobs import JobEngine
from yolocls.studio.registry import Registry
from yolocls.studio.scheduler import Scheduler
from yolocls.studio.service import Studio
from yolocls.studio.settings import StudioSettings
from yolocls.studio.web.pages import add_web

log = logging.getLogger("yolocls.studio")
STOP_TIMEOUT_S = 30  # on shutdown, how long running training jobs get to reach their next batch


def build_studio(settings: StudioSettings) -> Studio:
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    engine = JobEngine(settings.ray_address, extra_cpus=settings.prepare_slots + settings.deploy_slots)
    registry = Registry(db, settings.folder("models"))
    scheduler = Scheduler(settings, db, engine, register=registry.register)
    return Studio(settings=settings, db=db, engine=engine, scheduler=scheduler, registry=registry)


async def _loop(studio: Studio) -> None:
    while True:
        try:
            await asyncio.to_thread(studio.scheduler.tick)
        except Exception:  # one bad tick must not stop the studio
            log.exception("scheduler tick failed")
        await asyncio.sleep(studio.settings.poll_s)


def body_limit(settings: StudioSettings, scope: dict) -> int | None:
    """Each route's body limit: dataset uploads stream to disk under their own cap (None), model predictions
    get `yolocls serve`'s limit, everything else (JSON) a few MB."""
    path, method = scope.get("path", ""), scope.get("method", "")
    if method == "POST" and path.rstrip("/") == "/api/v1/datasets":
        return None
    if method == "POST" and path.startswith("/api/v1/models/") and path.endswith("/predict"):
        return settings.max_body_bytes
    if method == "POST" and path.startswith("/api/v1/datasets/") and path.endswith("/labels/import"):
        return settings.max_labels_bytes
    return settings.max_json_bytes


def create_studio_app(settings: StudioSettings | None = None) -> FastAPI:
    settings = settings or StudioSettings()
    studio = build_studio(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, studio.db.engine)
        studio.clean_partial_uploads()
        studio.scheduler.recover()
        await asyncio.to_thread(studio.engine.start)
        loop = asyncio.create_task(_loop(studio))
        try:
            yield
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
            await asyncio.to_thread(studio.scheduler.stop_running, STOP_TIMEOUT_S)
            await studio.registry.close()
            await asyncio.to_thread(studio.engine.stop)

    app = FastAPI(title="yolocls studio", version=__version__, lifespan=lifespan,
                  description="Upload datasets, train on Ray, watch runs, deploy and try models. All under /api/v1.")
    app.state.studio = studio

    add_error_handlers(app, log, scrub=settings.relative)

    api = APIRouter(prefix="/api/v1", dependencies=[Depends(require_key)])
    for module in (datasets, labels, classes, versions, suggest, curves, sweeps, jobs, runs, relabel, models,
                   presets, status, compare):
        api.include_router(module.router)
    app.include_router(api)
    add_web(app)  # the browser UI at /, built on the routes above
    # Outermost first: Host/Origin/key on the headers, then the body limit of the route, then the app.
    app.add_middleware(LimitAndMeasure, max_body_bytes=lambda scope: body_limit(settings, scope),  # type: ignore
                       metrics=Metrics(), max_inflight_bytes=settings.max_inflight_body_bytes,
                       stream_cap=settings.max_upload_bytes)
    app.add_middleware(Guard, settings=settings)  # type: ignore[arg-type]

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        """The web process answers (deployed models keep answering without the job engine)."""
        return {"status": "ok"}

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        """200 when jobs can be started; 503 while the job engine (Ray) is unavailable."""
        if studio.engine.available:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "detail": "the job engine (Ray) is unavailable; the studio "
                             "reconnects by itself"}, status_code=503)

    return app
