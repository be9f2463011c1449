"""/api/v1/models: versions, the default, and predictions (same input and response as `yolocls serve`)."""

from __future__ import annotations

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from yolocls.inference.schemas import PredictResponse
from yolocls.serving.engine import ABSTAIN_HELP, classify_uploads
from yolocls.studio.schemas import CaptureConfig, CapturesOut, ModelOut
from yolocls.studio.service import studio_of

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=list[ModelOut])
def list_models(request: Request) -> list[ModelOut]:
    return studio_of(request).registry.list()


@router.post("/{model}/predict", response_model=PredictResponse, summary="Classify images with a model version")
async def predict(
    request: Request, model: str,
    file: list[UploadFile] = File(..., description="One or more images, each in a part named 'file'"),
    top_k: int | None = Query(default=None, ge=1, le=1000),
    version: int | None = Query(default=None, ge=1, description="Default: the model's default version"),
    explain: bool = Query(default=False, description="Add a heatmap (class activation map) per image"),
    abstain: bool = Query(default=True, description=ABSTAIN_HELP),
) -> PredictResponse:
    state = await studio_of(request).registry.state(model, version)
    return await classify_uploads(state, file, top_k, explain, abstain)


class DefaultVersion(BaseModel):
    version: int = Field(ge=1)


@router.post("/{model}/default", response_model=ModelOut,
             summary="Choose the version /predict uses: body {\"version\": N} or ?version=N")
def set_default(request: Request, model: str, body: DefaultVersion | None = None,
                      version: int | None = Query(default=None, ge=1)) -> ModelOut:
    chosen = body.version if body is not None else version
    if chosen is None:
        raise HTTPException(status_code=422, detail="version: required (body {\"version\": N} or ?version=N)")
    return studio_of(request).registry.set_default(model, chosen)


@router.get("/{model}/capture", response_model=CaptureConfig, summary="The model's capture setting")
def get_capture(request: Request, model: str) -> CaptureConfig:
    registry = studio_of(request).registry
    registry.list_versions(model)  # 404 for an unknown model
    return registry.captures.config(model)


@router.put("/{model}/capture", response_model=CaptureConfig,
            summary="Keep copies of the requests this model answers `unknown`, below a confidence, or a sample")
async def put_capture(request: Request, model: str, config: CaptureConfig) -> CaptureConfig:
    await studio_of(request).registry.set_capture(model, config)
    return config


@router.get("/{model}/captures", response_model=CapturesOut, summary="What the model captured, newest first")
def list_captures(request: Request, model: str, limit: int = Query(default=100, ge=1, le=1000)) -> CapturesOut:
    registry = studio_of(request).registry
    registry.list_versions(model)
    return registry.captures.listing(model, limit)


@router.get("/{model}/captures/{name}", response_class=FileResponse, summary="One captured image")
def captured_image(request: Request, model: str, name: str) -> FileResponse:
    path = studio_of(request).registry.captures.image(model, name)
    if path is None:
        raise HTTPException(status_code=404, detail=f"no captured image '{name}' of model '{model}'")
    return FileResponse(path)
