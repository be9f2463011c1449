"""/api/v1/status: the job engine (Ray) as the studio sees it: available or why not, the live nodes, what is free.
The pages show a banner from it; `GET /ready` (no key) is the same answer for load balancers, as a status code."""

from __future__ import annotations

from fastapi import APIRouter, Request

from yolocls.studio.jobs import JobEngine
from yolocls.studio.schemas import EngineOut
from yolocls.studio.service import studio_of

router = APIRouter(prefix="/status", tags=["status"])


def engine_out(engine: JobEngine) -> EngineOut:
    available = engine.available
    return EngineOut(available=available, where=engine.where, reason=None if available else engine.lost,
                     nodes=engine.resources.nodes if available else [],
                     free=engine.resources.free if available else {})


@router.get("", response_model=EngineOut, summary="The job engine: available (or why not), nodes, free resources")
async def status(request: Request) -> EngineOut:
    return engine_out(studio_of(request).engine)
