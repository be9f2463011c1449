"""The HTTP routes: /predict, /health, /ready, /model, /metrics. Handlers read the app's ServingState."""

from __future__ import annotations

import asyncio
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, File, Header, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr

from yolocls.core.imaging import image_pixels
from yolocls.inference.heatmap import check_faithful_grid, overlay_base64
from yolocls.inference.predictor import ServedModel
from yolocls.inference.preprocess import decode_image, preprocess_bytes
from yolocls.inference.schemas import Detail, ModelInfo, ModelRef, PredictResponse, to_predictions
from yolocls.serving.admission import PixelBudget
from yolocls.serving.batching import MicroBatcher
from yolocls.serving.middleware import Metrics
from yolocls.serving.settings import ServeSettings

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {s: {"model": Detail} for s in (401, 413, 415, 422, 503)}


@dataclass
class ServingState:
    """What the routes need; the model, batcher and decode pool exist while the app is running."""

    settings: ServeSettings
    metrics: Metrics
    model: ServedModel | None = None
    batcher: MicroBatcher | None = None
    prep: ThreadPoolExecutor | None = None
    budget: PixelBudget | None = None


def serving_state(request: Request) -> ServingState:
    return request.app.state.serving  # type: ignore[no-any-return]


def model_name(model: ServedModel) -> str:
    return model.name or type(model).__name__


def key_matches(key: SecretStr | None, given: str | None) -> bool:
    """Whether `given` matches the configured key (constant-time); always true without a key."""
    expected = key.get_secret_value() if key else None
    return not expected or bool(given and secrets.compare_digest(given.encode(), expected.encode()))


def require_api_key(key: SecretStr | None, given: str | None) -> None:
    """401 unless `given` matches the configured key; nothing to check without a key."""
    if not key_matches(key, given):
        raise HTTPException(status_code=401, detail="missing or invalid X-API-Key header")


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


ABSTAIN_HELP = ("With a model that carries an open-set policy (thresholds from `yolocls export`): answer "
                "`unknown` (class null) when the calibrated confidence is below the class's threshold; the top-k "
                "list is the same either way. false: always the most probable class")


async def _sample(state: ServingState, data: bytes, name: str, pixels: int, imgsz: int) -> np.ndarray:
    """One upload -> a preprocessed sample, decoded once its pixels fit in the server's decode budget.
    Cancelled while decoding, it keeps its share of the budget until the decoding thread has finished."""
    settings = state.settings
    assert state.budget is not None
    async with state.budget.hold(pixels, settings.queue_timeout_s):
        work = asyncio.get_running_loop().run_in_executor(
            state.prep, preprocess_bytes, data, imgsz, name, settings.max_pixels)
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            await asyncio.wait([work])
            raise


async def _samples(state: ServingState, datas: list[bytes], names: list[str], imgsz: int
                   ) -> tuple[list[np.ndarray], list[int]]:
    """Headers of every file first (limits checked, nothing decoded), then the decodes; one failure
    cancels the files still waiting for the budget. Returns the samples and each image's pixel count."""
    settings = state.settings

    def headers() -> list[int]:
        return [image_pixels(d, n, settings.max_pixels) for d, n in zip(datas, names)]

    pixels = await asyncio.to_thread(headers)
    if sum(pixels) > settings.request_pixels:
        raise HTTPException(status_code=413, detail=f"the {len(datas)} images hold {sum(pixels)} pixels in all; the "
                                                    f"limit per request is {settings.request_pixels} "
                                                    "(YOLOCLS_MAX_REQUEST_PIXELS); send fewer or smaller images")
    tasks = [asyncio.create_task(_sample(state, d, n, px, imgsz)) for d, n, px in zip(datas, names, pixels)]
    try:
        return list(await asyncio.gather(*tasks)), pixels
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


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


async def classify_uploads(state: ServingState, file: list[UploadFile], top_k: int | None,
                           explain: bool = False, abstain: bool = True) -> PredictResponse:
    """The whole /predict: limits, decoding under the budget, micro-batched inference, the response
    (shared by `yolocls serve` and the studio's model endpoint)."""
    start = time.perf_counter()
    settings = state.settings
    if len(file) > settings.max_files:
        raise HTTPException(status_code=413, detail=f"{len(file)} files in one request; the limit is "
                                                    f"{settings.max_files} (YOLOCLS_MAX_FILES)")
    model, batcher = state.model, state.batcher
    if model is None or batcher is None or not batcher.alive:
        raise HTTPException(status_code=503, detail="model not loaded or inference loop stopped")
    names = [f.filename or f"file{i}" for i, f in enumerate(file)]
    datas = [await f.read() for f in file]  # spooled to disk past 1 MB: read in a thread, not on the loop
    batcher.announce(len(datas))
    try:
        samples, pixels = await _samples(state, datas, names, model.imgsz)
    except BaseException:
        batcher.withdraw(len(datas))
        raise
    if explain:
        batcher.withdraw(len(datas))
        probs, heatmaps = await _explained(state, datas, names, samples, pixels)
    else:
        probs, heatmaps = np.stack(await asyncio.gather(*[batcher.submit(s) for s in samples])), None
    state.metrics.images.inc(len(probs))
    k = min(top_k or settings.default_top_k, len(model.classes))
    policy = model.openset if abstain else None
    predictions = to_predictions(probs, names, model.classes, k, policy)
    for prediction, heatmap in zip(predictions, heatmaps or []):
        prediction.heatmap = heatmap
    return PredictResponse(predictions=predictions,
                           model=ModelRef(name=model_name(model), sha256=model.sha256),
                           time_ms=round((time.perf_counter() - start) * 1000, 3))


async def _explained(state: ServingState, datas: list[bytes], names: list[str], samples: list[np.ndarray],
                     pixels: list[int]) -> tuple[np.ndarray, list[str]]:
    """Probabilities and class activation maps in one model call, then one overlay per image (decoded
    again at full size under the pixel budget)."""
    model = state.model
    if model is None or not model.explains:
        raise HTTPException(status_code=422, detail="explain: this model cannot produce heatmaps")
    assert state.budget is not None
    probs, cams = await asyncio.to_thread(model.predict_cam, np.stack(samples))
    check_faithful_grid(cams.shape, model.imgsz)
    top = probs.argmax(axis=1)

    async def one(i: int) -> str:
        async with state.budget.hold(pixels[i], state.settings.queue_timeout_s):  # type: ignore[union-attr]
            bgr = await asyncio.to_thread(decode_image, datas[i], names[i], state.settings.max_pixels)
            return await asyncio.to_thread(overlay_base64, bgr, cams[i, top[i]], model.imgsz)

    return probs, list(await asyncio.gather(*[one(i) for i in range(len(datas))]))
