"""Micro-batching: concurrent requests' images are gathered into one model call (bounded size and wait)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from yolocls.core.errors import YoloclsError


class BatcherStopped(YoloclsError):
    """Submitted to a batcher whose loop is not running."""

    status_code = 503


class MicroBatcher:
    """`await submit(x)` -> that sample's output row. One inference thread; batches form while it is busy.

    The batcher waits (up to max_wait_ms) for more samples only while samples are announced but not yet
    submitted (requests still decoding), so a lone request never pays the wait.
    """

    def __init__(self, infer: Callable[[np.ndarray], np.ndarray], max_batch: int = 16, max_wait_ms: float = 3.0,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.infer, self.max_batch, self.max_wait = infer, max_batch, max_wait_ms / 1000.0
        self.on_batch = on_batch
        self._queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future[np.ndarray]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yolocls-infer")
        self._pending = 0

    def announce(self, n: int) -> None:
        """n samples are on their way (being decoded); worth waiting for."""
        self._pending += n

    def withdraw(self, n: int) -> None:
        """Announced samples that will not come (their request failed)."""
        self._pending = max(0, self._pending - n)

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run())
        self._task.add_done_callback(self._fail_waiting)

    def _fail_waiting(self, task: asyncio.Task[None]) -> None:
        """The loop ended (stopped or crashed): no queued request may wait forever."""
        while self._queue is not None and not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(BatcherStopped("the inference loop stopped; retry"))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def alive(self) -> bool:
        """False before start(), after stop(), or when the batching task died: nothing would be answered."""
        return self._task is not None and not self._task.done()

    async def submit(self, sample: np.ndarray) -> np.ndarray:
        if self._queue is None or not self.alive:
            raise BatcherStopped("the inference loop is not running; the server is not ready")
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._pending = max(0, self._pending - 1)
        await self._queue.put((sample, future))
        return await future

    async def _collect(self) -> list[tuple[np.ndarray, asyncio.Future[np.ndarray]]]:
        assert self._queue is not None
        items = [await self._queue.get()]
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while len(items) < self.max_batch:
            try:
                items.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self._pending == 0:
                break
            try:
                items.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return items

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            live = [(x, f) for x, f in items if not f.cancelled()]
            if not live:
                continue
            try:
                batch = np.stack([x for x, _ in live])
                out = await loop.run_in_executor(self._executor, self.infer, batch)
            except Exception as exc:  # fail these requests, keep serving
                for _, f in live:
                    if not f.done():
                        f.set_exception(exc)
                continue
            if self.on_batch:
                self.on_batch(len(live))
            for (_, f), row in zip(live, out):
                if not f.done():
                    f.set_result(row)
