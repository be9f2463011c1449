"""Capture from production: `yolocls serve` latency with `--capture` keeping every request vs capture off.

    .venv/bin/python bench/capture.py [--requests 1000] [--clients 8] [--rounds 2]

The model of bench/serve.py (yolov8n-cls exported at 320 px), camera-sized JPEGs (640x480). Each round starts
one server with capture off and one with `--capture DIR --capture-sample 1.0 --capture-max-files 500` (every
request kept: the worst case), sends --requests POST /predict from --clients concurrent clients to each, and
records p50/p99. Prints the medians over rounds and the ratios (target: p99 within 10 %), and checks the store's
bounds (500 files after 1,000 requests) and that nothing is written with capture off.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.serve import WORK, build_model, camera_jpegs, free_port, run_server  # noqa: E402

MAX_FILES = 500


async def load(url: str, images: list[bytes], requests: int, clients: int) -> list[float]:
    times: list[float] = []
    counter = iter(range(requests))

    async def client(http: httpx.AsyncClient) -> None:
        for i in counter:
            t0 = time.perf_counter()
            image = images[i % len(images)]
            res = await http.post(f"{url}/predict", files=[("file", (f"{i}.jpg", image, "image/jpeg"))])
            res.raise_for_status()
            times.append(time.perf_counter() - t0)

    async with httpx.AsyncClient(timeout=60) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return times


def measure(model: Path, images: list[bytes], args: argparse.Namespace, capture: Path | None) -> dict[str, float]:
    port = free_port()
    extra = ["--capture", str(capture), "--capture-sample", "1.0", "--capture-max-files", str(MAX_FILES)] if capture \
        else []
    proc = run_server([sys.executable, "-m", "yolocls", "serve", "--model", str(model), "--port", str(port), *extra],
                      {}, port, "/ready")
    try:
        url = f"http://127.0.0.1:{port}"
        asyncio.run(load(url, images, 50, args.clients))  # warm-up
        times = sorted(asyncio.run(load(url, images, args.requests, args.clients)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"p50": times[len(times) // 2] * 1000, "p99": times[int(len(times) * 0.99)] * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    model = build_model()
    images = camera_jpegs()
    folder = WORK / "capture"
    off, on = [], []
    for _ in range(args.rounds):
        shutil.rmtree(folder, ignore_errors=True)
        off.append(measure(model, images, args, None))
        assert not folder.exists(), "capture off wrote files"
        on.append(measure(model, images, args, folder))
        kept = [p for p in folder.iterdir() if p.suffix == ".jpg"]
        assert len(kept) == MAX_FILES, f"{len(kept)} images kept; the bound is {MAX_FILES}"
    p50_off, p99_off = (statistics.median(r[k] for r in off) for k in ("p50", "p99"))
    p50_on, p99_on = (statistics.median(r[k] for r in on) for k in ("p50", "p99"))
    print(f"{args.requests} requests x {args.rounds} rounds, {args.clients} clients, 640x480 JPEGs")
    print(f"capture off: p50 {p50_off:.1f} ms, p99 {p99_off:.1f} ms")
    print(f"capture on (every request kept): p50 {p50_on:.1f} ms, p99 {p99_on:.1f} ms")
    print(f"ratio on/off: p50 {p50_on / p50_off:.3f}, p99 {p99_on / p99_off:.3f} (target p99 <= 1.10)")
    print(f"store bounds held: {MAX_FILES} images kept of {args.requests + 50} requests; capture off wrote nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
