"""Benchmark `yolocls prepare` (all checks) against Ultralytics' `split_classify_dataset` (copies only).

    .venv/bin/python bench/prepare.py [--images 20000] [--repeat 2]

Generates ~20,000 small JPEGs in 10 classes (Fashion-MNIST pictures, coloured and upscaled to 64x64,
so they are real, distinct images), then times both tools on the same folder, alternating, and
prints the wall-time ratio yolocls / ultralytics (target <= 1.0).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from fashion_mnist import CLASSES, load  # noqa: E402


def make_source(dest: Path, n_images: int) -> Path:
    src = dest / "src"
    if src.exists() and sum(1 for _ in src.rglob("*.jpg")) == n_images:
        return src
    shutil.rmtree(src, ignore_errors=True)
    x, y = load("train")
    rng = np.random.default_rng(0)
    tint = rng.integers(120, 256, (n_images, 3))
    for name in CLASSES:
        (src / name).mkdir(parents=True)
    for i in range(n_images):
        k = i % len(x)
        rgb = (x[k][..., None].astype(np.uint16) * tint[i] // 255).astype(np.uint8)
        Image.fromarray(rgb, "RGB").resize((64, 64), Image.Resampling.BILINEAR).save(
            src / CLASSES[y[k]] / f"{i:06d}.jpg", quality=90)
    return src


def time_ultralytics(src: Path) -> float:
    out = Path(f"{src}_split")
    shutil.rmtree(out, ignore_errors=True)
    os.sync()  # start from clean page cache write-back, so earlier rounds do not slow this one
    code = ("import os; os.environ['YOLO_OFFLINE']='true'\n"
            "from ultralytics.data.split import split_classify_dataset\n"
            f"split_classify_dataset({str(src)!r}, 0.8)")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    elapsed = time.perf_counter() - t
    shutil.rmtree(out, ignore_errors=True)
    return elapsed


def time_yolocls(src: Path, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    os.sync()
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "yolocls", "prepare", str(src), "--out", str(out), "--split", "0.8,0.2"],
                   check=True, capture_output=True)
    elapsed = time.perf_counter() - t
    shutil.rmtree(out, ignore_errors=True)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "_work" / "prepare")
    args = ap.parse_args()
    src = make_source(args.work, args.images)
    print(f"{args.images} JPEGs in {len(CLASSES)} classes at {src}; {os.cpu_count()} cores")
    ul, yc = [], []
    for r in range(args.repeat):
        ul.append(time_ultralytics(src))
        yc.append(time_yolocls(src, args.work / "out"))
        print(f"round {r + 1}: ultralytics split_classify_dataset {ul[-1]:.2f}s, yolocls prepare {yc[-1]:.2f}s")
    print("\n| tool | best | median |\n|---|---|---|")
    print(f"| ultralytics split_classify_dataset (copy only) | {min(ul):.2f}s | {statistics.median(ul):.2f}s |")
    print(f"| yolocls prepare (decode, hash, dedupe, link) | {min(yc):.2f}s | {statistics.median(yc):.2f}s |")
    print(f"ratio yolocls/ultralytics: best {min(yc) / min(ul):.2f}, median "
          f"{statistics.median(yc) / statistics.median(ul):.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
