"""The studio holding a 15,000-image dataset, shared by several users, each figure against its baseline in one run:

1. `GET /api/v1/jobs/{id}` latency (p50/p99) while a training job runs on the 15,000 images, vs the studio idle;
2. model predictions with 8 clients while a 9th reloads the datasets pages in a loop (the list page, its API
   call and the 15,000-image dataset's page and detail) at 10 rounds a second and as fast as it is answered, vs
   the same 8 clients alone just before and after (ratio; target >= 0.8); and, to tell the datasets pages' own
   cost from any request's on a small machine, with a loop of the same number of `GET /health`s;
3. the dataset page of the 15,000-image dataset in headless Chromium: time to its first render and bytes
   transferred before any scrolling (targets <= 1 s, <= 1 MB).

    .venv/bin/python bench/studio_at_size.py [--images 15000] [--seconds 10] [--zip bench/_work/upload_forms/X.zip]

The dataset is Fashion-MNIST from Debian's `dataset-fashion-mnist` (28x28 PNGs, 10 classes) unless --zip names
another (e.g. the 640x480 JPEG form `bench/upload_forms.py` builds).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.pages import first_render  # noqa: E402
from bench.studio_vs_cli import fmnist_zip  # noqa: E402
from tests.helpers import Studio, png_bytes  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def poll_latencies(url: str, seconds: float, while_: Callable[[], bool] = lambda: True) -> list[float]:
    """GET url every 50 ms for `seconds` (or until while_() is false): the latencies in ms."""
    out: list[float] = []
    end = time.monotonic() + seconds
    with httpx.Client(timeout=30) as client:
        while time.monotonic() < end and while_():
            t0 = time.perf_counter()
            client.get(url).raise_for_status()
            out.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.05)
    return out


def predict_rate(url: str, image: bytes, seconds: float, clients: int = 8) -> float:
    done: list[int] = []

    def one() -> None:
        n, end = 0, time.monotonic() + seconds
        with httpx.Client(timeout=60) as client:
            while time.monotonic() < end:
                client.post(url, files={"file": ("x.png", image, "image/png")}).raise_for_status()
                n += 1
        done.append(n)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - t0)


def reload_pages(base: str, paths: list[str], per_s: float, stop: EventType, counter: Synchronized) -> None:
    """The other user, in a process of its own (sharing the predict clients' interpreter would slow them):
    GET each of `paths` in turn, `per_s` rounds a second (0: as fast as the studio answers)."""
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            t0 = time.monotonic()
            for path in paths:
                client.get(base + path).raise_for_status()
            counter.value += 1
            if per_s:
                time.sleep(max(0.0, 1 / per_s - (time.monotonic() - t0)))


def predict_while(url: str, image: bytes, seconds: float, base: str, paths: list[str], per_s: float
                  ) -> tuple[float, float]:
    """(predictions a second, rounds of `paths` a second) with the other user running."""
    stop, rounds = multiprocessing.Event(), multiprocessing.Value("i", 0)
    loader = multiprocessing.Process(target=reload_pages, args=(base, paths, per_s, stop, rounds))
    loader.start()
    t0 = time.monotonic()
    rate = predict_rate(url, image, seconds)
    stop.set()
    loader.join()
    return rate, rounds.value / (time.monotonic() - t0)


def dataset_page(url: str) -> tuple[float, int] | None:
    """(seconds to the first render, bytes transferred before scrolling) in headless Chromium."""
    return first_render(url, "const s = document.getElementById('summary'); return s && s.textContent !== "
                        "'Loading…' && document.querySelectorAll('#samples img').length > 0")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=15_000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--zip", type=Path, default=None)
    args = ap.parse_args()
    studio = Studio(Path(tempfile.mkdtemp(prefix="studio-at-size-")) / "home",
                    env={"YOLOCLS_MAX_UPLOAD_BYTES": str(4 * 1024**3)}).start()
    api = f"{studio.url}/api/v1"
    try:
        data = args.zip.read_bytes() if args.zip else fmnist_zip(args.images)
        created = httpx.post(f"{api}/datasets?name=big", files={"file": ("big.zip", data)}, timeout=1800).json()
        ds = studio.wait(f"/datasets/{created['dataset']['id']}", lambda d: d["status"] != "preparing", timeout=1800)
        assert ds["status"] == "ready", ds
        print(f"dataset: {ds['images']} images, {len(ds['classes'])} classes; {os.cpu_count()} cores")
        idle = poll_latencies(f"{api}/jobs", 3)
        job = httpx.post(f"{api}/jobs", json={"dataset": ds["id"], "epochs": 1, "imgsz": 32, "batch": 64,
                                              "device": "cpu", "aug": "none"}, timeout=60).json()
        busy = poll_latencies(f"{api}/jobs/{job['id']}", 600, lambda: studio.api(
            "GET", f"/jobs/{job['id']}").json()["status"] in ("queued", "running"))
        print(f"GET /jobs/{{id}} while training: p50 {statistics.median(busy):.1f} ms, p99 "
              f"{percentile(busy, 0.99):.1f} ms over {len(busy)} requests (idle GET /jobs: p50 "
              f"{statistics.median(idle):.1f} ms, p99 {percentile(idle, 0.99):.1f} ms)")
        job = studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] not in ("queued", "running"), timeout=1800)
        studio.deploy(job["run"], "big")
        predict = f"{api}/models/big/predict"
        image = png_bytes(0, 1)
        pages = ["/datasets", "/api/v1/datasets", f"/api/v1/datasets/{ds['id']}", f"/datasets/{ds['id']}"]
        alone = [predict_rate(predict, image, args.seconds)]
        print(f"predict, 8 clients, alone: {alone[0]:.1f} req/s")
        for label, paths, per_s in (("datasets pages, 10 reloads/s (3x a browser reloading)", pages, 10.0),
                                    ("datasets pages, reloaded as fast as answered", pages, 0.0),
                                    ("GET /health x4, as fast as answered (any request's cost)", ["/health"] * 4, 0.0)):
            rate, rounds = predict_while(predict, image, args.seconds, studio.url, paths, per_s)
            alone.append(predict_rate(predict, image, args.seconds))
            base = (alone[-2] + alone[-1]) / 2
            print(f"  with {label}: {rate:.1f} req/s while {rounds:.1f} rounds/s; ratio {rate / base:.2f} to the "
                  f"runs alone around it ({alone[-2]:.1f}, {alone[-1]:.1f}) (target >= 0.8)")
        page = dataset_page(f"{studio.url}/datasets/{ds['id']}")
        if page is None:
            print("dataset page: skipped (selenium or chromedriver missing)")
        else:
            print(f"dataset page of {ds['images']} images: first render {page[0]:.2f} s, {page[1] / 1e6:.2f} MB "
                  "transferred before scrolling (targets <= 1 s, <= 1 MB)")
    finally:
        studio.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
