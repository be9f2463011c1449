"""Benchmark `yolocls prepare` (all checks) against Ultralytics' `split_classify_dataset` (copies only).

    .venv/bin/python bench/prepare.py [--images 20000] [--size 64x64] [--repeat 2]
    .venv/bin/python bench/prepare.py --images 15000 --size 640x480     # the photo-sized reference set

Generates JPEGs in 10 classes (Fashion-MNIST pictures, coloured and upscaled to --size, so they are real,
distinct images; at photo sizes a grain texture brings them to 40-60 kB each, like camera pictures), then
times both tools on the same folder, alternating, and prints the wall-time ratio yolocls / ultralytics
(target <= 1.0).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from fashion_mnist import CLASSES, load  # noqa: E402


def _write_images(src: Path, size: tuple[int, int], first: int, count: int) -> None:
    x, y = load("train")
    rng = np.random.default_rng(first)
    grain = 0 if size[0] * size[1] <= 128 * 128 else 4  # photo-sized files get a camera-like texture
    for i in range(first, first + count):
        k = i % len(x)
        tint = rng.integers(120, 256, 3)
        rgb = (x[k][..., None].astype(np.uint16) * tint // 255).astype(np.uint8)
        im = np.asarray(Image.fromarray(rgb, "RGB").resize(size, Image.Resampling.BILINEAR), dtype=np.int16)
        if grain:
            im = np.clip(im + rng.normal(0, grain, im.shape[:2])[..., None], 0, 255)
        Image.fromarray(im.astype(np.uint8), "RGB").save(src / CLASSES[y[k]] / f"{i:06d}.jpg", quality=90)


def make_source(dest: Path, n_images: int, size: tuple[int, int]) -> Path:
    src = dest / f"src-{n_images}-{size[0]}x{size[1]}"
    if src.exists() and sum(1 for _ in src.rglob("*.jpg")) == n_images:
        return src
    shutil.rmtree(src, ignore_errors=True)
    for name in CLASSES:
        (src / name).mkdir(parents=True)
    workers = os.cpu_count() or 1
    step = -(-n_images // workers)
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write_images, [src] * workers, [size] * workers, range(0, n_images, step),
                      [min(step, n_images - s) for s in range(0, n_images, step)]))
    return src


def csv_form(src: Path) -> Path:
    """The same images flat in one folder with a `filename,label` labels.csv (hard links: no extra disk)."""
    flat = src.with_name(src.name + "-csv")
    files = sorted(src.rglob("*.jpg"))
    if flat.exists() and sum(1 for _ in flat.glob("*.jpg")) == len(files):
        return flat
    shutil.rmtree(flat, ignore_errors=True)
    flat.mkdir()
    rows = ["filename,label"]
    for f in files:
        os.link(f, flat / f.name)
        rows.append(f"{f.name},{f.parent.name}")
    (flat / "labels.csv").write_text("\n".join(rows) + "\n")
    return flat


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
    ap.add_argument("--size", default="64x64", help="WxH of the generated JPEGs (640x480: photo-sized)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--csv", action="store_true", help="also time yolocls on the same images as a flat folder + "
                    "labels.csv (split_classify_dataset takes class folders only)")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "_work" / "prepare")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    src = make_source(args.work, args.images, (size[0], size[1]))
    megabytes = sum(p.stat().st_size for p in src.rglob("*.jpg")) / 1e6
    print(f"{args.images} {args.size} JPEGs ({megabytes:.0f} MB) in {len(CLASSES)} classes at {src}; "
          f"{os.cpu_count()} cores")
    ul, yc, ycsv = [], [], []
    for r in range(args.repeat):
        ul.append(time_ultralytics(src))
        yc.append(time_yolocls(src, args.work / "out"))
        line = f"round {r + 1}: ultralytics split_classify_dataset {ul[-1]:.2f}s, yolocls prepare {yc[-1]:.2f}s"
        if args.csv:
            ycsv.append(time_yolocls(csv_form(src), args.work / "out"))
            line += f", yolocls prepare (folder + labels.csv) {ycsv[-1]:.2f}s"
        print(line)
    print("\n| tool | best | median |\n|---|---|---|")
    print(f"| ultralytics split_classify_dataset (copy only) | {min(ul):.2f}s | {statistics.median(ul):.2f}s |")
    print(f"| yolocls prepare (decode, hash, dedupe, link) | {min(yc):.2f}s | {statistics.median(yc):.2f}s |")
    if ycsv:
        print(f"| yolocls prepare, folder + labels.csv | {min(ycsv):.2f}s | {statistics.median(ycsv):.2f}s |")
    print(f"ratio yolocls/ultralytics: best {min(yc) / min(ul):.2f}, median "
          f"{statistics.median(yc) / statistics.median(ul):.2f} (target <= 1.0)")
    if ycsv:
        print(f"ratio yolocls (labels.csv)/ultralytics: best {min(ycsv) / min(ul):.2f}, median "
              f"{statistics.median(ycsv) / statistics.median(ul):.2f}")


if __name__ == "__main__":
    main()
