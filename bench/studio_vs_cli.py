"""Training through the studio vs `yolocls train`, started together on the same prepared dataset and the same
arguments (the way a team shares one machine): wall time of each and their ratio (baseline: the CLI).

    .venv/bin/python bench/studio_vs_cli.py [--images 15000] [--epochs 1] [--imgsz 64]

The dataset is Fashion-MNIST from Debian's `dataset-fashion-mnist` (28x28 PNGs, 10 classes), uploaded to the
studio as a zip and prepared there; the CLI trains on the studio's prepared folder.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import cv2
import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from scripts.fashion_mnist import CLASSES, load  # noqa: E402
from tests.helpers import Studio  # noqa: E402


def fmnist_zip(n: int) -> bytes:
    x, y = load("train")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n):
            ok, png = cv2.imencode(".png", x[i])
            zf.writestr(f"fmnist/{CLASSES[y[i]]}/{i:05d}.png", png.tobytes())
    return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=15_000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--imgsz", type=int, default=64)
    args = ap.parse_args()
    studio = Studio(Path(tempfile.mkdtemp(prefix="studio-vs-cli-")) / "home",
                    env={"YOLOCLS_MAX_UPLOAD_BYTES": str(2 * 1024**3)}).start()
    home, url = studio.home, studio.url
    try:
        created = httpx.post(f"{url}/api/v1/datasets", files={"file": ("fmnist.zip", fmnist_zip(args.images))},
                             data={"name": "fmnist"}, timeout=600).json()
        while (ds := httpx.get(f"{url}/api/v1/datasets/{created['dataset']['id']}").json())["status"] == "preparing":
            time.sleep(1)
        assert ds["status"] == "ready", ds
        train_args = {"epochs": args.epochs, "imgsz": args.imgsz, "batch": 32, "device": "cpu", "aug": "none"}
        cli_cmd = [sys.executable, "-m", "yolocls", "train", "--data", str(home / "datasets" / "fmnist"),
                   "--runs-dir", str(home / "cli-runs"), "--name", "cli", "--epochs", str(args.epochs), "--imgsz",
                   str(args.imgsz), "--batch", "32", "--device", "cpu", "--aug", "none", "--no-pretrained",
                   "--quiet"]
        times: dict[str, float] = {}

        def run_cli() -> None:
            t0 = time.monotonic()
            subprocess.run(cli_cmd, check=True, capture_output=True, env={**os.environ, "YOLO_OFFLINE": "true"})
            times["cli"] = time.monotonic() - t0

        cli = threading.Thread(target=run_cli)
        t0 = time.monotonic()
        job = httpx.post(f"{url}/api/v1/jobs", json={"dataset": ds["id"], **train_args}, timeout=60).json()
        cli.start()
        while (j := httpx.get(f"{url}/api/v1/jobs/{job['id']}").json())["status"] in ("queued", "running"):
            time.sleep(0.5)
        times["studio"] = time.monotonic() - t0
        cli.join()
        record = json.loads((home / "runs" / job["run"] / "run.json").read_text())
        cli_record = json.loads((home / "cli-runs" / "cli" / "run.json").read_text())
        print(f"{args.images} images, {args.epochs} epoch(s) at {args.imgsz} px, started together:")
        print(f"  yolocls train (baseline): {times['cli']:.1f} s, torch threads {cli_record.get('cpu_threads')}")
        print(f"  studio job ({j['status']}): {times['studio']:.1f} s, torch threads {record.get('cpu_threads')}")
        print(f"  ratio studio/CLI: {times['studio'] / times['cli']:.2f}")
    finally:
        studio.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
