"""Bounded work per server: a pixel budget for decoding (memory and CPU), refusing with 503 when busy.

Every image declares its size in its header; decoding it may only start once its pixels fit in the
budget. A request that cannot get its pixels within the queue timeout is answered 503 with Retry-After
instead of waiting without bound, so latency and memory stay bounded under any mix of requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from yolocls.core.errors import YoloclsError

RETRY_AFTER_S = 1


class ServerBusy(YoloclsError):
    """Too much decoding work in flight; the client should retry shortly."""

    status_code = 503
    headers = {"Retry-After": str(RETRY_AFTER_S)}


class PixelBudget:
    """An async counting semaphore weighted by pixels (one image never needs more than the whole budget)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, pixels: int, timeout_s: float) -> AsyncIterator[None]:
        pixels = max(1, min(pixels, self.capacity))
        async with self._changed:
            try:
                if self.in_use + pixels > self.capacity:  # (wait_for with timeout 0 would fail even when free)
                    await asyncio.wait_for(self._changed.wait_for(lambda: self.in_use + pixels <= self.capacity),
                                           timeout_s)
            except asyncio.TimeoutError:
                raise ServerBusy(f"server busy: {self.in_use} pixels are being decoded (budget {self.capacity}, "
                                 f"YOLOCLS_MAX_INFLIGHT_PIXELS); retry in {RETRY_AFTER_S} s") from None
            self.in_use += pixels
        try:
            yield
        finally:
            # Give back at once (no await first): a task cancelled while waiting for the lock here would
            # otherwise keep its pixels for ever. Waking the waiters is shielded for the same reason.
            self.in_use -= pixels
            await asyncio.shield(self._wake())

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()
