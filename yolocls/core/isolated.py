"""Decoding of image formats whose memory the header does not bound, in a child process with a memory cap.

Container formats (ICNS, ICO/CUR, ...) hold embedded images whose real size is only known once they are
read: a 240 kB ICNS file declaring a small icon can carry a PNG that decodes to gigabytes. Such files are
decoded in a separate process whose data segment is capped (RLIMIT_DATA), so the worst a hostile file can
do is fail there; the caller gets an ImageError naming the file. One long-lived child per process, started
on first use (spawn: no copy of the caller's threads or memory).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import resource
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from yolocls.core.errors import ImageError, YoloclsError
from yolocls.core.limits import proc_status

BASE_BYTES = 384 * 1024**2  # the child's own interpreter, numpy, Pillow, OpenCV
BYTES_PER_PIXEL = 16  # RGBA decode + composite + RGB copies of the declared size
SLACK_BYTES = 64 * 1024**2  # decoder tables and buffers
TIMEOUT_S = 60.0

_lock = threading.Lock()
_pools: dict[int, ProcessPoolExecutor] = {}


def memory_cap(max_pixels: int) -> int:
    return BASE_BYTES + BYTES_PER_PIXEL * max_pixels


def _cap_memory(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _data_segment_bytes() -> int:
    value = proc_status("VmData")  # "123456 kB"
    return int(value.split()[0]) * 1024 if value else 0


def _decode_rgb(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """In the child: the image as RGB uint8 (H, W, 3), with memory for the size its header declares only."""
    from yolocls.core.imaging import convert_rgb8, open_image

    im = open_image(data, name, max_pixels)
    hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
    soft = _data_segment_bytes() + SLACK_BYTES + BYTES_PER_PIXEL * im.size[0] * im.size[1]
    resource.setrlimit(resource.RLIMIT_DATA, (min(soft, hard), hard))
    try:
        rgb = np.array(convert_rgb8(im, name))
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))
    if rgb.shape[0] * rgb.shape[1] > max_pixels:
        raise ImageError(f"{name}: its embedded image ({rgb.shape[1]}x{rgb.shape[0]}) exceeds the limit of "
                         f"{max_pixels} pixels")
    return rgb


def _stop_all() -> None:
    """At exit, also of a multiprocessing worker (which joins its children and never runs the executor's own
    atexit hook): stop the children so the exit does not wait on them for ever."""
    for max_pixels, pool in list(_pools.items()):
        _discard(max_pixels, pool)


def _pool(max_pixels: int) -> ProcessPoolExecutor:
    with _lock:
        pool = _pools.get(max_pixels)
        if pool is None:
            if not _pools:
                multiprocessing.util.Finalize(None, _stop_all, exitpriority=100)
            pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_cap_memory, initargs=(memory_cap(max_pixels),))
            _pools[max_pixels] = pool
        return pool


def _discard(max_pixels: int, pool: ProcessPoolExecutor) -> None:
    """Forget a broken or stuck child (killed, so a runaway decode stops using the CPU)."""
    with _lock:
        if _pools.get(max_pixels) is pool:
            del _pools[max_pixels]
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)


def decode_rgb_isolated(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) decoded in the capped child; ImageError when it needs more memory or time."""
    pool = _pool(max_pixels)
    too_big = ImageError(f"{name}: decoding needs more than {memory_cap(max_pixels) // 1024**2} MiB of memory "
                         "(an embedded image larger than the file declares); refusing it")
    try:
        return pool.submit(_decode_rgb, data, name, max_pixels).result(timeout=TIMEOUT_S)
    except YoloclsError:
        raise
    except MemoryError:
        raise too_big from None
    except BrokenProcessPool:  # the child was killed (by the cap, or from outside): start a new one next time
        _discard(max_pixels, pool)
        raise too_big from None
    except TimeoutError:
        _discard(max_pixels, pool)
        raise ImageError(f"{name}: decoding took over {TIMEOUT_S:.0f} s; refusing it") from None
    except Exception as exc:
        raise ImageError(f"{name}: corrupt or truncated image ({type(exc).__name__})") from None
