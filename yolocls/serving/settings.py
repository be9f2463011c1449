"""Service settings from YOLOCLS_* environment variables (pydantic-settings); created in the app factory."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from yolocls.core.limits import DEFAULT_MAX_PIXELS


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YOLOCLS_", extra="ignore")

    model: Path = Field(description="Exported .onnx file, or a run folder containing one")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_batch: int = Field(default=16, ge=1, description="Micro-batch: most images per model call")
    max_wait_ms: float = Field(default=3.0, ge=0, description="Micro-batch: longest wait for more images")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, description="Request body limit (413 above)")
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, description="Per-image pixel limit (413 above)")
    max_files: int = Field(default=16, ge=1, description="Most files per request (413 above)")
    default_top_k: int = 5
    api_key: SecretStr | None = Field(default=None, description="When set, requests need X-API-Key")
    threads: int | None = Field(default=None, description="ONNX Runtime intra-op threads (default: all cores)")
    preprocess_threads: int | None = Field(default=None, description="Decode/resize threads (default: cores)")
