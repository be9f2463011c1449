"""`GET /api/v1/jobs/{id}` latency while 8 clients upload datasets and list at the same time, vs the studio idle.

Four clients upload a small dataset zip in a loop (each upload becomes a preparation job), four list the
datasets and the jobs in a loop; one more client polls a job every 50 ms and records p50/p95/p99. The same poll
with the studio idle, in the same run, is the baseline.

    .venv/bin/python bench/studio_contention.py [--seconds 20] [--tree PATH]

`--tree` runs the studio from another checkout (e.g. an older commit in a git worktree) for a before/after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.studio_at_size import percentile  # noqa: E402
from tests.helpers import Studio, dataset_zip  # noqa: E402


def poll(url: str, seconds: float) -> list[float]:
    out: list[float] = []
    end = time.monotonic() + seconds
    with httpx.Client(timeout=60) as client:
        while time.monotonic() < end:
            t0 = time.perf_counter()
            client.get(url).raise_for_status()
            out.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.05)
    return out


def uploader(api: str, data: bytes, stop: threading.Event, counts: list[int]) -> None:
    with httpx.Client(timeout=120) as client:
        while not stop.is_set():
            res = client.post(f"{api}/datasets", files={"file": ("d.zip", data, "application/zip")})
            counts.append(res.status_code)


def lister(api: str, stop: threading.Event, counts: list[int]) -> None:
    with httpx.Client(timeout=120) as client:
        while not stop.is_set():
            for path in ("/datasets", "/jobs"):
                counts.append(client.get(api + path).status_code)


def summary(values: list[float]) -> str:
    return (f"p50 {statistics.median(values):.1f} ms, p95 {percentile(values, 0.95):.1f} ms, p99 "
            f"{percentile(values, 0.99):.1f} ms ({len(values)} requests)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--tree", type=Path, default=None)
    args = ap.parse_args()
    env = {"YOLOCLS_MAX_QUEUED_JOBS": "100000"}
    if args.tree:
        env["PYTHONPATH"] = str(args.tree.resolve())
    studio = Studio(Path(tempfile.mkdtemp(prefix="studio-contention-")) / "home", env=env).start()
    api = f"{studio.url}/api/v1"
    try:
        data = dataset_zip()
        first = httpx.post(f"{api}/datasets", files={"file": ("d.zip", data, "application/zip")}, timeout=60).json()
        job_url = f"{api}/jobs/{first['job']['id']}"
        idle = poll(job_url, min(args.seconds, 10))
        stop = threading.Event()
        counts: list[int] = []
        threads = [threading.Thread(target=uploader, args=(api, data, stop, counts)) for _ in range(4)]
        threads += [threading.Thread(target=lister, args=(api, stop, counts)) for _ in range(4)]
        for t in threads:
            t.start()
        busy = poll(job_url, args.seconds)
        stop.set()
        for t in threads:
            t.join()
        print(f"studio from {args.tree or REPO}; {os.cpu_count()} cores; {len(data) / 1e3:.0f} kB per upload")
        print(f"GET /jobs/{{id}} idle: {summary(idle)}")
        print(f"GET /jobs/{{id}} with 4 uploading + 4 listing clients: {summary(busy)}; the 8 clients made "
              f"{len(counts)} requests ({sum(c >= 400 for c in counts)} refused)")
    finally:
        studio.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
