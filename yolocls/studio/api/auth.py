"""X-API-Key on every /api route when YOLOCLS_API_KEY is set."""

from __future__ import annotations

from fastapi import Header, Request

from yolocls.serving.engine import require_api_key
from yolocls.studio.service import studio_of


async def require_key(request: Request, x_api_key: str | None = Header(default=None)) -> None:
    require_api_key(studio_of(request).settings.api_key, x_api_key)
