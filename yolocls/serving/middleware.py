"""ASGI middleware: the request body limit (413 before any parsing) and Prometheus metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

KNOWN_PATHS = {"/predict", "/health", "/ready", "/model", "/metrics", "/docs", "/openapi.json"}

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Metrics:
    """Prometheus collectors in a registry of this app's own (several apps in one process stay separate)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("yolocls_requests_total", "HTTP requests", ["path", "status"],
                                registry=self.registry)
        self.latency = Histogram("yolocls_request_duration_seconds", "Request latency", ["path"],
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10), registry=self.registry)
        self.batch = Histogram("yolocls_batch_size", "Images per model call (micro-batching)",
                               buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)
        self.images = Counter("yolocls_images_total", "Images classified", registry=self.registry)
        self.captured = Gauge("yolocls_captured_images", "Request images kept by --capture since the start",
                              registry=self.registry)
        self.capture_dropped = Gauge("yolocls_capture_dropped_images", "Images --capture would have kept but did "
                                     "not (its queue full, a write failed)", registry=self.registry)


async def send_json(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


BodyLimit = Callable[[Scope], "int | None"]


class LimitAndMeasure:
    """Rejects bodies over the byte limit with 413 before parsing, and records metrics per known path.
    `max_body_bytes` is one limit, or a function of the request giving its route's limit (None: a route that
    streams its body to disk under a cap of its own; only a declared Content-Length over `stream_cap` is
    refused here)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int | BodyLimit, metrics: Metrics, max_inflight_bytes: int,
                 stream_cap: int | None = None) -> None:
        self.app, self.metrics = app, metrics
        self.limit_for: BodyLimit = max_body_bytes if callable(max_body_bytes) else (lambda _s: max_body_bytes)
        self.stream_cap = stream_cap
        self.max_inflight_bytes = max_inflight_bytes
        self.inflight_bytes = 0  # bytes of request bodies being received or processed, over all requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        held = [0]  # bytes of this request's body counted in inflight_bytes
        try:
            replay = await self._buffer_body(scope, receive, send_wrapper, held)
            if replay is not None:
                await self.app(scope, replay, send_wrapper)
        finally:
            self.inflight_bytes -= held[0]
            self.metrics.requests.labels(path, str(status["code"])).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)

    async def _busy(self, send: Send) -> None:
        await send_json(send, 503, f"server busy: {self.inflight_bytes} bytes of requests in flight "
                        "(YOLOCLS_MAX_INFLIGHT_BODY_BYTES); retry shortly", [(b"retry-after", b"1")])

    async def _buffer_body(self, scope: Scope, receive: Receive, send: Send, held: list[int]) -> Receive | None:
        """Read the whole body (up to the limit) so an oversized upload is refused before any parsing."""
        limit = self.limit_for(scope)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if limit is None:  # a streamed route: its own cap applies while it writes to disk
            if self.stream_cap is not None and length is not None and length.isdigit() \
                    and int(length) > self.stream_cap:
                await send_json(send, 413, f"upload of {int(length)} bytes exceeds {self.stream_cap} bytes "
                                "(YOLOCLS_MAX_UPLOAD_BYTES)")
                return None
            return receive
        too_big = f"request body exceeds {limit} bytes (YOLOCLS_MAX_BODY_BYTES)"
        if length is not None and length.isdigit() and int(length) > limit:
            await send_json(send, 413, too_big)
            return None
        if scope.get("method") not in ("POST", "PUT", "PATCH", "DELETE"):
            return receive
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await send_json(send, 413, too_big)
                return None
            if self.inflight_bytes + len(chunk) > self.max_inflight_bytes and self.inflight_bytes > held[0]:
                await self._busy(send)  # other requests hold the memory budget; this one may retry
                return None
            self.inflight_bytes += len(chunk)
            held[0] += len(chunk)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay
