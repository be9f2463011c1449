"""The serving engine: one served model's state (decode pool, pixel budget, micro-batcher, metrics) and the
predict pipeline (decode under the pixel budget, batch, answer with the open-set policy, explain), with the
API-key check. `yolocls serve`'s routes and the studio's model routes are thin layers over it; the studio
reaches serving only through this module (a checked import contract), so both get the same limits.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from fastapi import FastAPI, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from yolocls.core.errors import YoloclsError
from yolocls.core.imaging import image_pixels
from yolocls.core.limits import available_cpus
from yolocls.inference.heatmap import check_faithful_grid, overlay_base64
from yolocls.inference.predictor import ServedModel
from yolocls.inference.preprocess import decode_image, preprocess_bytes
from yolocls.inference.schemas import ModelRef, PredictResponse, to_predictions
from yolocls.serving.admission import PixelBudget
from yolocls.serving.batching import MicroBatcher
from yolocls.serving.capture import CaptureSettings, CaptureStore
from yolocls.serving.middleware import ASGIApp, LimitAndMeasure, Metrics, Receive, Scope, Send, send_json
from yolocls.serving.protocol import HeaderDeadlineProtocol
from yolocls.serving.settings import ApiKey, ServeSettings

__all__ = ["ABSTAIN_HELP", "ASGIApp", "ApiKey", "HeaderDeadlineProtocol", "LimitAndMeasure", "Metrics", "Receive",
           "Scope", "Send", "ServeSettings", "ServingState", "add_error_handlers", "classify_uploads", "is_loopback",
           "key_matches", "require_api_key", "send_json", "start_state", "stop_state"]

log = logging.getLogger("yolocls.server")


@dataclass
class ServingState:
    """What the routes need; the model, batcher and decode pool exist while the app is running."""

    settings: ServeSettings
    metrics: Metrics
    model: ServedModel | None = None
    batcher: MicroBatcher | None = None
    prep: ThreadPoolExecutor | None = None
    budget: PixelBudget | None = None
    capture: CaptureStore | None = None


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
    if settings.capture_dir is not None:  # server processes share the folder and its bounds
        state.capture = CaptureStore(CaptureSettings(
            folder=settings.capture_dir, unknown=settings.capture_unknown, below=settings.capture_below,
            sample=settings.capture_sample, max_files=max(1, settings.capture_max_files // settings.workers),
            max_bytes=max(1, settings.capture_max_bytes // settings.workers)))
        store = state.capture
        state.metrics.captured.set_function(lambda: store.kept)
        state.metrics.capture_dropped.set_function(lambda: store.dropped)
    log.info("model loaded: %s (%d classes, imgsz %d)", model.name, len(model.classes),
             model.imgsz)


async def stop_state(state: ServingState) -> None:
    batcher, state.batcher = state.batcher, None
    if batcher is not None:
        await batcher.stop()
    capture, state.capture = state.capture, None
    if capture is not None:  # what is queued is written first
        await asyncio.to_thread(capture.close)
    if state.prep is not None:
        state.prep.shutdown(wait=False, cancel_futures=True)


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
    capture = state.capture  # read once: the studio may swap the store while this request runs
    if capture is not None:  # a queue hand-off: written by the capture thread, off the request path
        for data, prediction in zip(datas, predictions):
            capture.offer(data, prediction.model_dump(exclude={"heatmap"}), model_name(model))
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


def is_loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")
