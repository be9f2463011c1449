"""The studio's front door (ASGI middleware), checked on the headers before any body byte is read:
Host (DNS rebinding), Origin of state-changing requests (cross-site forms), and the API key."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from yolocls.serving.engine import ASGIApp, Receive, Scope, Send, send_json
from yolocls.studio.settings import StudioSettings

PROTECTED_PREFIXES = ("/api/",)
PROTECTED_PATHS = {"/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def host_name(value: str) -> str:
    """'Example.com:8080' -> 'example.com'; '[::1]:80' -> '::1'."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def is_loopback_name(name: str) -> bool:
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Guard:
    """Refuses, before the app (and its body parsing) runs: an unexpected Host (421), a state-changing request
    from another origin (403), and /api, /docs, /openapi.json without the key when one is set (401)."""

    def __init__(self, app: ASGIApp, settings: StudioSettings) -> None:
        self.app, self.settings = app, settings
        self.allowed = {h.lower() for h in settings.allowed_host_list}
        self.any_host = "*" in self.allowed or (not self.allowed and not is_loopback_name(host_name(settings.host)))

    def host_allowed(self, host: str) -> bool:
        name = host_name(host)
        if self.any_host or name in self.allowed:
            return True
        return not self.allowed and is_loopback_name(name)  # bound to loopback: only loopback names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        host = headers.get("host", "")
        if not self.host_allowed(host):
            await send_json(send, 421, f"Host '{host[:100]}' is not served here; add it to YOLOCLS_ALLOWED_HOSTS "
                            "if the studio is reached under that name")
            return
        if scope.get("method", "GET") not in SAFE_METHODS and not self._same_origin(headers, host):
            await send_json(send, 403, "cross-site request refused: state-changing requests must come from the "
                            "studio's own pages or from a client that sends no Origin header")
            return
        path = scope.get("path", "")
        if "\x00" in path:
            await send_json(send, 400, "path: contains a NUL byte")
            return
        protected = path.startswith(PROTECTED_PREFIXES) or path in PROTECTED_PATHS
        if protected and self.settings.author_for(headers.get("x-api-key")) is None:
            await send_json(send, 401, "missing or invalid X-API-Key header")
            return
        await self.app(scope, receive, send)

    def _same_origin(self, headers: dict[str, str], host: str) -> bool:
        if headers.get("sec-fetch-site", "") == "cross-site":
            return False
        origin = headers.get("origin")
        if origin is None:
            return True  # scripts, curl, and same-origin GET-like navigations send none
        if origin == "null":
            return False
        parts = urlsplit(origin)
        # the page's own origin, or one of the names the studio is published under (a reverse proxy)
        return parts.netloc.lower() == host.strip().lower() or (parts.hostname or "") in self.allowed
