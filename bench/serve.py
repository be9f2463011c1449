"""Serving benchmark: in-process limit vs `yolocls serve` over HTTP vs the naive per-request YOLO().predict.

    .venv/bin/python bench/serve.py [--run RUN_DIR] [--duration 10]

Needs `wrk` (Debian package) as the HTTP load generator. Without --run it prepares the bundled sample,
trains one tiny epoch and exports it at 320 px (the accuracy is irrelevant here; the compute is the
real yolov8n-cls at 320 px). Prints one table; the targets are checked at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "_work" / "serve"
IMGSZ = 320


def sh(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "yolocls", *args], check=True, capture_output=True, text=True, **kw)


def build_model() -> Path:
    run = WORK / "runs" / "bench"
    if (run / "weights" / "best.onnx").exists():
        return run
    shutil.rmtree(WORK, ignore_errors=True)
    sh("prepare", str(ROOT / "datasets" / "sample"), "--out", str(WORK / "data"))
    sh("train", "--data", str(WORK / "data"), "--runs-dir", str(WORK / "runs"), "--name", "bench", "--epochs", "1",
       "--imgsz", "32", "--no-report", "--quiet", "--no-pretrained")
    sh("export", str(run), "--imgsz", str(IMGSZ))
    return run


def camera_jpegs(n: int = 16) -> list[bytes]:
    """Camera-sized (640x480) JPEGs with smooth content, so their size (~30-60 kB) is realistic."""
    rng = np.random.default_rng(0)
    out = []
    yy, xx = np.mgrid[0:480, 0:640]
    for _ in range(n):
        base = np.stack([(xx * rng.uniform(0.1, 0.4) + yy * rng.uniform(0.1, 0.4) + rng.uniform(0, 255)) % 256
                         for _ in range(3)], axis=-1).astype(np.uint8)
        for _ in range(6):
            c = tuple(int(v) for v in rng.integers(0, 256, 3))
            cv2.circle(base, tuple(int(v) for v in rng.integers(0, 640, 2)), int(rng.integers(20, 120)), c, -1)
        base = cv2.add(base, rng.integers(0, 12, base.shape, dtype=np.uint8))
        out.append(cv2.imencode(".jpg", base, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return out


def in_process(model_path: Path, images: list[bytes]) -> dict[str, float]:
    from yolocls.inference.onnx_predictor import OnnxPredictor
    from yolocls.inference.preprocess import preprocess_bytes

    model = OnnxPredictor(model_path)
    for d in images[:4]:
        model.predict(preprocess_bytes(d, IMGSZ)[None])
    lat = []
    for i in range(60):
        t = time.perf_counter()
        model.predict(preprocess_bytes(images[i % len(images)], IMGSZ)[None])
        lat.append((time.perf_counter() - t) * 1000)
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
    n_batches, t = 30, time.perf_counter()
    for b in range(n_batches):
        chunk = [images[(b * 8 + k) % len(images)] for k in range(8)]
        model.predict(np.stack(list(pool.map(lambda d: preprocess_bytes(d, IMGSZ), chunk))))
    throughput = n_batches * 8 / (time.perf_counter() - t)
    return {"p50": statistics.median(lat), "throughput": throughput}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(url, timeout=1).status_code in (200, 405):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} not ready")


def wrk_script(image: bytes, folder: Path) -> Path:
    boundary = "----yoloclsbench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cam.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode()
    (folder / "body.bin").write_bytes(body)
    lua = folder / "post.lua"
    lua.write_text(f'''wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary={boundary}"
local f = io.open("{folder / 'body.bin'}", "rb"); wrk.body = f:read("*all"); f:close()
''')
    return lua


def wrk(url: str, script: Path, conns: int, duration: int) -> dict[str, float]:
    threads = 1 if conns == 1 else 2
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "-s", str(script), url],
                         check=True, capture_output=True, text=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} error responses:\n{out}")
    return {"rps": rps, "p50": ms("50%"), "p99": ms("99%")}


def run_server(cmd: list[str], env: dict[str, str], port: int, ready_path: str) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=ROOT)
    wait_ready(f"http://127.0.0.1:{port}{ready_path}", proc)
    return proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, help="a run folder exported at 320 px (default: build one)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk measurement")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    run = args.run or build_model()
    onnx_path = run / "weights" / "best.onnx"
    images = camera_jpegs()
    print(f"model {onnx_path} at {IMGSZ} px; 640x480 JPEGs of {statistics.mean(map(len, images)) / 1024:.0f} kB; "
          f"{os.cpu_count()} cores")
    limit = in_process(onnx_path, images)
    tmp = Path(tempfile.mkdtemp())
    script = wrk_script(images[0], tmp)
    rows = []
    port = free_port()
    proc = run_server([sys.executable, "-m", "yolocls", "serve", "--model", str(onnx_path), "--port", str(port)],
                      {}, port, "/ready")
    try:
        url = f"http://127.0.0.1:{port}/predict"
        wrk(url, script, 8, 2)  # warm-up
        ours = {c: wrk(url, script, c, args.duration) for c in (1, 8)}
    finally:
        proc.terminate()
        proc.wait()
    port = free_port()
    proc = run_server([sys.executable, "-m", "uvicorn", "bench.naive_server:app", "--port", str(port),
                       "--log-level", "warning"],
                      {"YOLOCLS_BENCH_WEIGHTS": str(run / "weights" / "best.pt"), "YOLOCLS_BENCH_IMGSZ": str(IMGSZ)},
                      port, "/docs")
    try:
        base = f"http://127.0.0.1:{port}"
        wrk(f"{base}/predict", script, 8, 2)
        naive = {c: wrk(f"{base}/predict", script, c, args.duration) for c in (1, 8)}
        loaded = {c: wrk(f"{base}/predict-loaded", script, c, args.duration) for c in (1, 8)}
    finally:
        proc.terminate()
        proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    rows.append(("(a) in-process, 1 image", f"{1000 / limit['p50']:.1f}", f"{limit['p50']:.1f}", "-"))
    rows.append(("(a) in-process, batch 8", f"{limit['throughput']:.1f}", "-", "-"))
    for name, res in (("(b) yolocls serve", ours), ('(c) naive: YOLO("best.pt").predict per request', naive),
                      ("(c') YOLO model loaded once, predict per request", loaded)):
        for c in (1, 8):
            rows.append((f"{name}, concurrency {c}", f"{res[c]['rps']:.1f}", f"{res[c]['p50']:.1f}",
                         f"{res[c]['p99']:.1f}"))
    print("\n| setup | images/s | p50 ms | p99 ms |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    t1 = ours[8]["rps"] / limit["throughput"]
    t2 = ours[8]["rps"] / naive[8]["rps"]
    t3 = ours[1]["p50"] - limit["p50"]
    print(f"\n(b)@8 / (a) batch-8 throughput = {t1:.2f} (target >= 0.7)")
    print(f"(b)@8 / (c)@8 = {t2:.2f} (target >= 3)")
    print(f"(b)@8 / (c')@8 = {ours[8]['rps'] / loaded[8]['rps']:.2f} (stronger baseline, for reference)")
    print(f"(b)@1 p50 - (a) single latency = {t3:+.1f} ms (target <= +5 ms)")


if __name__ == "__main__":
    main()
