"""X-API-Key on every /api route when YOLOCLS_API_KEY or YOLOCLS_API_KEYS is set; who the key belongs to."""

from __future__ import annotations

from fastapi import Header, HTTPException, Request

from yolocls.studio.service import studio_of


async def require_key(request: Request, x_api_key: str | None = Header(default=None)) -> None:
    author = studio_of(request).settings.author_for(x_api_key)
    if author is None:
        raise HTTPException(status_code=401, detail="missing or invalid X-API-Key header")
    request.state.author = author


def author_of(request: Request) -> str:
    """The name of the key the request came with (set by `require_key`, which every /api route runs)."""
    return str(getattr(request.state, "author", "local"))
