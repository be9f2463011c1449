"""/api/v1/models: versions, the default, and predictions (same input and response as `yolocls serve`)."""

from __future__ import annotations

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile
from pydantic import BaseModel, Field

from yolocls.inference.schemas import PredictResponse
from yolocls.serving.engine import ABSTAIN_HELP, classify_uploads
from yolocls.studio.schemas import ModelOut
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
