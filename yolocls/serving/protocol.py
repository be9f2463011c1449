"""uvicorn's HTTP protocol with a request-header deadline, for `yolocls serve` and the studio.

uvicorn closes a kept-alive connection that stays silent after a response, but a new connection that sends
nothing (or half a request line and then nothing) is kept open for ever: 20,000 of them use every file
descriptor and the server stops answering. This protocol (passed to uvicorn as `http=`, its extension point)
closes any connection that has not sent complete request headers within `YOLOCLS_HEADER_TIMEOUT_S` seconds
(default 10) of connecting or of its previous response.
"""

from __future__ import annotations

import asyncio
import os
from functools import lru_cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT_S = 10.0


@lru_cache(maxsize=1)
def header_timeout_s() -> float:
    try:
        value = float(os.environ.get("YOLOCLS_HEADER_TIMEOUT_S", DEFAULT_HEADER_TIMEOUT_S))
    except ValueError:
        value = DEFAULT_HEADER_TIMEOUT_S
    return value if value > 0 else DEFAULT_HEADER_TIMEOUT_S


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """Closes connections that do not deliver a request's headers in time (idle or slowloris clients)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(header_timeout_s(), self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # idle, waiting for the next request (none pipelined)
            self._arm()  # its headers get the same deadline, even when some of it arrives (slowloris)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
