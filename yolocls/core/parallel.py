"""An ordered map over worker processes, with a progress bar on terminals (serial for small inputs)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm import tqdm

PARALLEL_THRESHOLD = 256  # below this, worker start-up costs more than it saves

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(fn: Callable[[T], R], items: list[T], workers: int, desc: str,
                 progress: bool | None, on_done: Callable[[int, int], None] | None = None) -> list[R]:
    """`[fn(x) for x in items]`, spread over `workers` processes; `progress` None: a bar only on a terminal;
    `on_done(done, total)` after each item (for progress reported elsewhere than a terminal)."""
    bar_off = None if progress is None else not progress
    if workers <= 1 or len(items) < PARALLEL_THRESHOLD:
        results: Iterable[R] = map(fn, items)
        bar_off = bar_off or len(items) < PARALLEL_THRESHOLD
        return _collect(results, len(items), desc, bar_off, on_done)
    chunk = max(16, min(256, len(items) // (workers * 8) or 1))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return _collect(pool.map(fn, items, chunksize=chunk), len(items), desc, bar_off, on_done)


def _collect(results: Iterable[R], total: int, desc: str, bar_off: bool | None,
             on_done: Callable[[int, int], None] | None) -> list[R]:
    out: list[R] = []
    for result in tqdm(results, total=total, desc=desc, disable=bar_off, file=sys.stderr, unit="img"):
        out.append(result)
        if on_done is not None:
            on_done(len(out), total)
    return out
