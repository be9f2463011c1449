"""Hostile clients against a real studio with an API key: the studio's memory (peak and after) while big bodies
arrive with and without the key, and whether it keeps answering while thousands of connections sit idle.

    .venv/bin/python bench/hostile_clients.py [--idle 10000]

Baseline in the same run: the studio's idle memory and /health latency before any hostile client.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.helpers import (  # noqa: E402
    Studio,  # noqa: E402
    closed_by_server,
    hold_idle_connections,
    raw_request,  # noqa: E402
)

KEY = "bench-key"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Peak:
    """Samples a process's RSS every 20 ms while active."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> Peak:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def send(port: int, head: str, body_bytes: int) -> tuple[int, float]:
    """Request headers then up to `body_bytes` of body (the tests' raw client); (status, seconds to the answer)."""
    t0 = time.monotonic()
    status, _ = raw_request(port, head, body_bytes)
    return status, time.monotonic() - t0


def health_ms(url: str, n: int = 20) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        httpx.get(f"{url}/health", timeout=30)
        times.append(time.perf_counter() - t0)
    return sorted(times)[n // 2] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections to hold")
    args = parser.parse_args()
    env = {**os.environ, "YOLOCLS_API_KEY": KEY, "YOLOCLS_HEADER_TIMEOUT_S": "10"}
    studio = Studio(Path(tempfile.mkdtemp(prefix="hostile-")) / "home", env=env).start()
    proc, url, port = studio.proc, studio.url, studio.port
    assert proc is not None
    try:
        idle = rss_mb(proc.pid)
        base_ms = health_ms(url)
        print(f"studio idle: {idle:.0f} MB, /health p50 {base_ms:.1f} ms (baseline)")
        cases = [
            ("200 MB JSON to POST /api/v1/jobs, no key", "POST /api/v1/jobs", "application/json", 200, False),
            ("1 GB multipart to a model's predict, no key", "POST /api/v1/models/m/predict",
             "multipart/form-data; boundary=b", 1024, False),
            ("1 GB multipart to a model's predict, with the key", "POST /api/v1/models/m/predict",
             "multipart/form-data; boundary=b", 1024, True),
            ("200 MB JSON to POST /api/v1/jobs, with the key", "POST /api/v1/jobs", "application/json", 200, True),
        ]
        for label, line, ctype, mb, with_key in cases:
            head = (f"{line} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {mb * 1024**2}\r\n" + (f"X-API-Key: {KEY}\r\n" if with_key else "") + "\r\n")
            with Peak(proc.pid) as peak:
                status, seconds = send(port, head, mb * 1024**2)
                time.sleep(0.3)
            print(f"{label}: {status} in {seconds:.2f} s; memory peak +{peak.peak - idle:.0f} MB, "
                  f"after +{rss_mb(proc.pid) - idle:.0f} MB")
        socks = hold_idle_connections(url, args.idle)  # half of them send half a request, then nothing
        held_ms = health_ms(url)
        print(f"{args.idle} idle/half-sent connections held: /health p50 {held_ms:.1f} ms "
              f"({held_ms / base_ms:.2f}x the baseline)")
        time.sleep(12)
        closed = sum(closed_by_server(s) for s in socks)
        for s in socks:
            s.close()
        print(f"after the 10 s header deadline: {closed} of {args.idle} closed by the studio")
    finally:
        studio.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
