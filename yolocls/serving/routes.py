"""`yolocls serve`'s HTTP routes: /predict, /health, /ready, /model, /metrics; thin layers over the serving
engine (`serving.engine`), whose ServingState the app holds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from yolocls.inference.schemas import Detail, ModelInfo, PredictResponse
from yolocls.serving.engine import ABSTAIN_HELP, ServingState, classify_uploads, model_name, require_api_key

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {s: {"model": Detail} for s in (401, 413, 415, 422, 503)}


def serving_state(request: Request) -> ServingState:
    return request.app.state.serving  # type: ignore[no-any-return]


async def check_api_key(request: Request, x_api_key: str | None = Header(default=None)) -> None:
    require_api_key(serving_state(request).settings.api_key, x_api_key)


router = APIRouter()


@router.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the model is loaded", responses={503: {"model": Detail}})
async def ready(request: Request) -> JSONResponse:
    batcher = serving_state(request).batcher
    if batcher is not None and batcher.alive:
        return JSONResponse({"status": "ready"})
    detail = "model not loaded" if batcher is None else "the inference loop stopped; restart the server"
    return JSONResponse({"detail": detail}, status_code=503)


@router.get("/model", response_model=ModelInfo, dependencies=[Depends(check_api_key)],
            responses={401: {"model": Detail}})
async def model_info(request: Request) -> ModelInfo:
    model = serving_state(request).model
    assert model is not None
    meta = model.metadata or {}
    return ModelInfo(name=model_name(model), format="onnx", sha256=model.sha256,
                     classes=model.classes, imgsz=model.imgsz, source_run=meta.get("source_run"),
                     preprocessing=meta.get("preprocessing"), openset=model.openset)


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
async def prometheus(request: Request) -> PlainTextResponse:
    return PlainTextResponse(generate_latest(serving_state(request).metrics.registry),
                             media_type=CONTENT_TYPE_LATEST)


@router.post("/predict", response_model=PredictResponse, dependencies=[Depends(check_api_key)],
             responses=ERROR_RESPONSES, summary="Classify one or more images")
async def predict(
    request: Request,
    file: list[UploadFile] = File(..., description="One or more images, each in a part named 'file'"),
    top_k: int | None = Query(default=None, ge=1, le=1000, description="Classes per image (default 5)"),
    explain: bool = Query(default=False, description="Add a heatmap (class activation map) per image"),
    abstain: bool = Query(default=True, description=ABSTAIN_HELP),
) -> PredictResponse:
    return await classify_uploads(serving_state(request), file, top_k, explain, abstain)


