"""`yolocls serve` under a hostile mix: peak server memory and CPU, statuses and latency, 1000 requests, 8 clients.

The mix: ordinary 640x480 JPEGs, Radiance .hdr headers declaring 6500x6500 (OpenCV-only formats once decoded
before any check), PNG headers declaring 100000x100000, compressible 6300x6300 PNGs (40 MP, ~2.5 CPU-s to
decode each), requests carrying 16 of those, truncated JPEG/PNG files, and empty files. Baseline in the same
run: the server's memory right after start (model loaded) and the same 8 clients sending only ordinary JPEGs.

    .venv/bin/python bench/serve_adversarial.py [--model RUN_DIR_OR_ONNX] [--requests 1000] [--clients 8]

Without --model a tiny model is trained on the bundled sample and exported first (about a minute on CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.odd_images import _hdr_bomb, _png_bomb  # noqa: E402


def _jpeg(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", cv2.GaussianBlur(arr, (9, 9), 3))[1].tobytes()


def _big_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (6300, 6300), (200, 180, 160)).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def request_mix(n: int, seed: int = 0) -> list[tuple[str, list[tuple[str, bytes]]]]:
    rng = random.Random(seed)
    big = _big_png()
    jpegs = [_jpeg(k) for k in range(20)]
    kinds = ["jpeg"] * 55 + ["hdr"] * 10 + ["png_bomb"] * 10 + ["big_png"] * 5 + ["sixteen_big"] * 5 + \
        ["truncated"] * 10 + ["empty"] * 5
    out = []
    for _ in range(n):
        kind = rng.choice(kinds)
        files = {
            "jpeg": lambda: [("a.jpg", rng.choice(jpegs))],
            "hdr": lambda: [("bomb.hdr", _hdr_bomb())],
            "png_bomb": lambda: [("bomb.png", _png_bomb())],
            "big_png": lambda: [("big.png", big)],
            "sixteen_big": lambda: [(f"big{i}.png", big) for i in range(16)],
            "truncated": lambda: [("cut.jpg", rng.choice(jpegs)[:3000])],
            "empty": lambda: [("empty.jpg", b"")],
        }[kind]()
        out.append((kind, files))
    return out


def proc_stats(pid: int) -> tuple[float, float]:
    """(peak resident MB, CPU seconds) of a process, from /proc."""
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return peak, cpu


async def drive(url: str, mix: list[tuple[str, list[tuple[str, bytes]]]], clients: int
                ) -> list[tuple[str, int, float]]:
    queue: asyncio.Queue[tuple[str, list[tuple[str, bytes]]]] = asyncio.Queue()
    for item in mix:
        queue.put_nowait(item)
    results: list[tuple[str, int, float]] = []

    async def client() -> None:
        async with httpx.AsyncClient(timeout=120) as http:
            while not queue.empty():
                kind, files = queue.get_nowait()
                start = time.perf_counter()
                res = await http.post(f"{url}/predict", files=[("file", f) for f in files])
                results.append((kind, res.status_code, time.perf_counter() - start))

    await asyncio.gather(*[client() for _ in range(clients)])
    return results


def start_server(model: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "yolocls", "serve", "--model", str(model), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


def tiny_model() -> Path:
    work = REPO / "bench" / "_work" / "adversarial"
    run = work / "runs" / "tiny"
    if (run / "export.json").is_file():
        return run
    y = [sys.executable, "-m", "yolocls"]
    if not (work / "data" / "manifest.json").is_file():
        subprocess.run([*y, "prepare", str(REPO / "datasets" / "sample"), "--out", str(work / "data")], check=True)
    subprocess.run([*y, "train", "--data", str(work / "data"), "--runs-dir", str(work / "runs"), "--name", "tiny",
                    "--epochs", "2", "--imgsz", "64", "--no-pretrained", "--no-report", "--quiet"], check=True)
    subprocess.run([*y, "export", str(run)], check=True)
    return run


def report(title: str, results: list[tuple[str, int, float]], peak: float, cpu: float, base: float) -> None:
    print(f"\n{title}: {len(results)} requests; server peak RSS {peak:.0f} MB ({peak - base:+.0f} MB over idle), "
          f"server CPU {cpu:.1f} s")
    by_kind: dict[str, list[tuple[int, float]]] = {}
    for kind, status, seconds in results:
        by_kind.setdefault(kind, []).append((status, seconds))
    for kind, rows in sorted(by_kind.items()):
        statuses = Counter(s for s, _ in rows)
        lat = sorted(t for _, t in rows)
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
        print(f"  {kind:12s} n={len(rows):4d}  statuses {dict(statuses)}  p50 {statistics.median(lat) * 1000:.0f} ms"
              f"  p99 {p99 * 1000:.0f} ms")
    assert not any(s >= 500 and s != 503 for _, s, _ in results), "a 5xx other than 503"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    model = args.model or tiny_model()
    mix = request_mix(args.requests)
    plain = [("jpeg", [("a.jpg", _jpeg(k % 20))]) for k in range(args.requests)]
    for title, requests in (("baseline: ordinary JPEGs only", plain), ("hostile mix", mix)):
        port = 18000 + random.Random(title).randrange(1000)
        proc = start_server(model, port)
        try:
            idle, cpu0 = proc_stats(proc.pid)
            results = asyncio.run(drive(f"http://127.0.0.1:{port}", requests, args.clients))
            peak, cpu1 = proc_stats(proc.pid)  # VmHWM: the kernel's record of the peak
            print(f"(idle server after start: {idle:.0f} MB)")
            report(title, results, peak, cpu1 - cpu0, idle)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
