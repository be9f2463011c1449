"""Service settings from YOLOCLS_* environment variables (pydantic-settings); created in the app factory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from yolocls.core.limits import DEFAULT_MAX_PIXELS


def non_empty_key(value: SecretStr | None) -> SecretStr | None:
    """An API key that is set but empty must not silently mean "no auth"."""
    if value is not None and not value.get_secret_value().strip():
        raise ValueError("is set but empty; unset it to run without a key, or set a real key")
    return value


ApiKey = Annotated[SecretStr | None, AfterValidator(non_empty_key)]


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YOLOCLS_", extra="ignore")

    model: Path = Field(description="Exported .onnx file, or a run folder containing one")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_batch: int = Field(default=16, ge=1, description="Micro-batch: most images per model call")
    max_wait_ms: float = Field(default=3.0, ge=0, description="Micro-batch: longest wait for more images")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, description="Request body limit (413 above)")
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, ge=1, description="Per-image pixel limit (413 above)")
    max_files: int = Field(default=16, ge=1, description="Most files per request (413 above)")
    default_top_k: int = 5
    api_key: ApiKey = Field(default=None, description="When set, /predict, /model and /docs "
                                      "need X-API-Key")
    threads: int | None = Field(default=None, ge=1, description="ONNX Runtime intra-op threads (default: the "
                                "CPUs this container may use)")
    preprocess_threads: int | None = Field(default=None, ge=1, description="Decode/resize threads (default: the "
                                           "CPUs this container may use)")
    max_inflight_pixels: int | None = Field(default=None, ge=1, description="Pixels being decoded at once, over "
                                            "all requests (default max_pixels: one full-size image, or many "
                                            "smaller ones); more waits, then 503")
    max_request_pixels: int | None = Field(default=None, ge=1, description="Pixels of all images of one request "
                                           "(default 4 x max_pixels; 413 above), read from headers before decoding")
    max_inflight_body_bytes: int = Field(default=256 * 1024 * 1024, ge=1, description="Bytes of request bodies "
                                         "held at once, over all requests (503 above): bounds upload memory")
    queue_timeout_s: float = Field(default=2.0, ge=0, description="Longest wait for decode capacity before 503")
    capture_dir: Path | None = Field(default=None, description="Keep copies of requests answered `unknown` (and "
                                     "below capture_below, and a capture_sample of the rest) in this folder")
    capture_unknown: bool = Field(default=True, description="Capture what the model answered `unknown`")
    capture_below: float | None = Field(default=None, gt=0, le=1, description="Capture answers below this "
                                        "confidence")
    capture_sample: float = Field(default=0.0, ge=0, le=1, description="Capture this fraction of other requests")
    capture_max_files: int = Field(default=10_000, ge=1, description="Most captured images (oldest dropped first)")
    capture_max_bytes: int = Field(default=1024**3, ge=1, description="Most bytes of captures (oldest dropped "
                                   "first)")


    @property
    def request_pixels(self) -> int:
        return self.max_request_pixels or 4 * self.max_pixels

    @property
    def inflight_pixels(self) -> int:
        return self.max_inflight_pixels or self.max_pixels
