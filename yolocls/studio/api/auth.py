"""X-API-Key on every /api route when YOLOCLS_API_KEY is set."""

from __future__ import annotations

import secrets

from fastapi import Header, HTTPException, Request

from yolocls.studio.service import studio_of


async def require_key(request: Request, x_api_key: str | None = Header(default=None)) -> None:
    key = studio_of(request).settings.api_key
    expected = key.get_secret_value() if key else None
    if expected and not (x_api_key and secrets.compare_digest(x_api_key.encode(), expected.encode())):
        raise HTTPException(status_code=401, detail="missing or invalid X-API-Key header")
