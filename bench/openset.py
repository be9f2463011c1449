"""Open set on real images: Fashion-MNIST with classes held out of training.

Trains on 7 classes, then `yolocls report RUN --ood HELD_OUT_DIR`: the risk-coverage operating point on the
known classes' test split, ECE before/after temperature scaling, and the fraction of the 3 held-out classes'
images answered "unknown". Baseline in the same run: the same model with no thresholds answers 100 % of both.

    .venv/bin/python bench/openset.py [--per-class 700] [--epochs 10] [--imgsz 64] [--preset none]

Needs the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist) or --source DIR, a folder
per class of Fashion-MNIST PNGs written by an earlier run (bench/_work/openset/src).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.fmnist import CLASSES, FMNIST, split  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / "_work" / "openset"
HELD_OUT = ("Bag", "Sandal", "Shirt")


def write_source(out: Path, per_class: int) -> None:
    """`per_class` training images per class as PNGs, a folder per class (held-out classes included)."""
    images, labels = split("train")
    for ci, name in enumerate(CLASSES):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for k, i in enumerate(np.flatnonzero(labels == ci)[:per_class]):
            Image.fromarray(images[i], "L").save(folder / f"{k:05d}.png")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=700)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--imgsz", type=int, default=64)
    ap.add_argument("--preset", default=None, help="an augmentation/training preset (default: --aug none)")
    ap.add_argument("--source", type=Path, default=None)
    ap.add_argument("--pretrained", action="store_true")
    args = ap.parse_args()
    source = args.source or WORK / "src"
    if not source.is_dir():
        if not FMNIST.is_dir():
            sys.exit(f"no {FMNIST}: apt install dataset-fashion-mnist (or pass --source)")
        write_source(source, args.per_class)
    known_src, ood = WORK / "known-src", WORK / "held-out"
    for folder in (known_src, ood, WORK / "data", WORK / "runs"):
        shutil.rmtree(folder, ignore_errors=True)
    for name in CLASSES:
        shutil.copytree(source / name, (ood if name in HELD_OUT else known_src) / name)
    y = [sys.executable, "-m", "yolocls"]
    subprocess.run([*y, "prepare", str(known_src), "--out", str(WORK / "data"), "--split", "0.7,0.15,0.15"],
                   check=True, stdout=subprocess.DEVNULL)
    train = [*y, "train", "--data", str(WORK / "data"), "--runs-dir", str(WORK / "runs"), "--name", "fm7",
             "--epochs", str(args.epochs), "--imgsz", str(args.imgsz), "--quiet", "--no-report"]
    train += ["--preset", args.preset] if args.preset else ["--aug", "none"]
    train += [] if args.pretrained else ["--no-pretrained"]
    start = time.perf_counter()
    subprocess.run(train, check=True)
    train_s = time.perf_counter() - start
    run = WORK / "runs" / "fm7"
    subprocess.run([*y, "report", str(run), "--ood", str(ood)], check=True)
    report = json.loads((run / "report" / "openset.json").read_text())
    metrics = json.loads((run / "report" / "metrics.json").read_text())
    point = report["operating_point"]
    print(json.dumps({
        "known_classes": [c for c in CLASSES if c not in HELD_OUT], "held_out": list(HELD_OUT),
        "imgsz": args.imgsz, "epochs": args.epochs, "train_s": round(train_s, 1),
        "test_top1_all_answered": round(metrics["top1"], 4),
        "coverage": round(point["coverage"], 4), "accuracy_answered": round(point["accuracy"], 4),
        "ece_before": round(report["ece_before"], 4), "ece_after": round(report["ece_after"], 4),
        "temperature": report["policy"]["temperature"],
        "ood_images": report["ood_images"], "ood_rejected": round(report["ood_rejected"], 4),
        "baseline_no_thresholds": {"coverage": 1.0, "ood_rejected": 0.0},
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
