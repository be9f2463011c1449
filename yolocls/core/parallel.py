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
                 progress: bool | None) -> list[R]:
    """`[fn(x) for x in items]`, spread over `workers` processes; `progress` None: a bar only on a terminal."""
    bar_off = None if progress is None else not progress
    if workers <= 1 or len(items) < PARALLEL_THRESHOLD:
        return [fn(x) for x in tqdm(items, desc=desc, disable=bar_off or len(items) < PARALLEL_THRESHOLD,
                                     file=sys.stderr, unit="img")]
    chunk = max(16, min(256, len(items) // (workers * 8) or 1))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results: Iterable[R] = pool.map(fn, items, chunksize=chunk)
        return list(tqdm(results, total=len(items), desc=desc, disable=bar_off, file=sys.stderr, unit="img"))
