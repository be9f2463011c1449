"""The studio's overhead, each against its baseline in the same run:

1. a training job submitted through the studio vs `yolocls train` directly (same prepared dataset and
   arguments, both ending with the report): wall-time ratio, and the time from the request to the first
   epoch starting compared with the direct command's own start-up;
2. a 500 MB upload received by the studio vs this disk's sequential write speed measured just before,
   with the studio's peak memory before and after.

    .venv/bin/python bench/studio.py [--epochs 20] [--imgsz 64] [--upload-mb 500]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.serve_adversarial import proc_stats  # noqa: E402
from tests.helpers import free_port  # noqa: E402

WORK = REPO / "bench" / "_work" / "studio"


def first_epoch_start(run_dir: Path, t0: float, deadline: float) -> tuple[float, float]:
    """(seconds from t0 until epoch 1 started, until it ended), from epochs.jsonl as it appears."""
    log = run_dir / "epochs.jsonl"
    while time.time() < deadline:
        if log.is_file() and log.read_text().strip():
            ended = time.time() - t0
            seconds = json.loads(log.read_text().splitlines()[0])["seconds"]
            return ended - seconds, ended
        time.sleep(0.05)
    raise SystemExit(f"no epoch in {run_dir}")


def direct(data: Path, args: argparse.Namespace) -> tuple[float, float]:
    runs = WORK / "direct-runs"
    shutil.rmtree(runs, ignore_errors=True)
    cmd = [sys.executable, "-m", "yolocls", "train", "--data", str(data), "--runs-dir", str(runs), "--name", "d",
           "--epochs", str(args.epochs), "--imgsz", str(args.imgsz), "--device", "cpu", "--no-pretrained", "--quiet"]
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start, _ = first_epoch_start(runs / "d", t0, t0 + 3600)
    proc.wait()
    return time.time() - t0, start


def start_studio(home: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "yolocls", "studio", "--home", str(home), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "YOLOCLS_MAX_UPLOAD_BYTES": str(4 * 1024**3)})
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("studio did not start")


def through_studio(url: str, home: Path, dataset_id: str, args: argparse.Namespace) -> tuple[float, float]:
    body = {"dataset": dataset_id, "epochs": args.epochs, "imgsz": args.imgsz, "device": "cpu"}
    t0 = time.time()
    job = httpx.post(f"{url}/api/v1/jobs", json=body, timeout=60).json()
    start, _ = first_epoch_start(home / "runs" / job["run"], t0, t0 + 3600)
    while httpx.get(f"{url}/api/v1/jobs/{job['id']}", timeout=30).json()["status"] in ("queued", "running"):
        time.sleep(0.1)
    return time.time() - t0, start


def disk_write_mb_s(folder: Path, mb: int) -> float:
    block = os.urandom(1 << 20)
    path = folder / "disk-speed.bin"
    t0 = time.time()
    with path.open("wb") as fh:
        for _ in range(mb):
            fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())
    seconds = time.time() - t0
    path.unlink()
    return mb / seconds


def upload_mb_s(url: str, pid: int, mb: int) -> tuple[float, float, float]:
    path = WORK / "big.zip"
    block = os.urandom(1 << 20)
    with path.open("wb") as fh:
        for _ in range(mb):
            fh.write(block)
    before, _ = proc_stats(pid)

    def body():  # streamed from disk: the client holds one chunk at a time
        with path.open("rb") as fh:
            yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.zip"\r\n' \
                  b"Content-Type: application/zip\r\n\r\n"
            while chunk := fh.read(1 << 20):
                yield chunk
            yield b"\r\n--B--\r\n"

    t0 = time.time()
    res = httpx.post(f"{url}/api/v1/datasets", content=body(), timeout=600,
                     headers={"content-type": "multipart/form-data; boundary=B"})
    seconds = time.time() - t0
    assert res.status_code == 202, res.text
    after, _ = proc_stats(pid)
    path.unlink()
    return mb / seconds, before, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--imgsz", type=int, default=64)
    parser.add_argument("--upload-mb", type=int, default=500)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    home = WORK / "home"
    shutil.rmtree(home, ignore_errors=True)
    studio, url = start_studio(home)
    try:
        zip_path = WORK / "sample.zip"
        shutil.make_archive(str(zip_path.with_suffix("")), "zip", REPO / "datasets" / "sample")
        with zip_path.open("rb") as fh:
            created = httpx.post(f"{url}/api/v1/datasets", files={"file": ("sample.zip", fh, "application/zip")},
                                 data={"name": "sample"}, timeout=120).json()
        while httpx.get(f"{url}/api/v1/datasets/{created['dataset']['id']}").json()["status"] == "preparing":
            time.sleep(0.2)
        data = home / "datasets" / "sample"
        direct(data, argparse.Namespace(epochs=1, imgsz=args.imgsz))  # warm-up: page cache, imports
        d_wall, d_start = direct(data, args)
        s_wall, s_start = through_studio(url, home, created["dataset"]["id"], args)
        print(f"training, {args.epochs} epochs at {args.imgsz} px on the bundled sample (report included):")
        print(f"  yolocls train directly : {d_wall:7.1f} s wall, first epoch started after {d_start:.2f} s")
        print(f"  through the studio     : {s_wall:7.1f} s wall, first epoch started after {s_start:.2f} s "
              "(from POST /jobs)")
        print(f"  ratio studio/direct {s_wall / d_wall:.3f}; start-up difference {s_start - d_start:+.2f} s")
        disk = disk_write_mb_s(WORK, args.upload_mb)
        speed, before, after = upload_mb_s(url, studio.pid, args.upload_mb)
        print(f"upload of {args.upload_mb} MB: {speed:.0f} MB/s received vs {disk:.0f} MB/s sequential disk write "
              f"(fsync) = {speed / disk:.2f}; studio peak memory {before:.0f} MB before, {after:.0f} MB after")
    finally:
        studio.terminate()
        studio.wait(timeout=60)


if __name__ == "__main__":
    main()
