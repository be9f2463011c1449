"""`yolocls learning-curve` on 6,000 Fashion-MNIST images (600 per class, Debian `dataset-fashion-mnist`), at a
CPU-sized setting: the four points, the verdict and the wall time (target: within 20 minutes on 2 cores).

    .venv/bin/python bench/learning_curve.py [--per-class 600] [--epochs 15] [--imgsz 32]

Prepared with `yolocls prepare` (80/10/10: 4,800 training images); the curve trains on 10/25/50/100 % of each
class's training images with the same val and test images. Files in bench/_work/learning_curve/.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.fmnist import CLASSES, require, split, write_pngs  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / "_work" / "learning_curve"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--imgsz", type=int, default=32)
    args = parser.parse_args()
    require()
    subprocess.run(["rm", "-rf", str(WORK)], check=True)
    images, labels = split("train")
    rng = np.random.default_rng(0)
    write_pngs(WORK / "src", images, labels, {ci: rng.permutation(np.flatnonzero(labels == ci))[:args.per_class]
                                             for ci in range(len(CLASSES))})
    yolocls = [sys.executable, "-m", "yolocls"]
    subprocess.run([*yolocls, "prepare", str(WORK / "src"), "--out", str(WORK / "data")], check=True,
                   capture_output=True)
    t0 = time.perf_counter()
    subprocess.run([*yolocls, "learning-curve", str(WORK / "data"), "--epochs", str(args.epochs), "--imgsz",
                    str(args.imgsz), "--batch", "64", "--device", "cpu", "--no-pretrained", "--set", "workers=2",
                    "--runs-dir", str(WORK / "runs"), "--name", "curve", "--quiet"], check=True)
    print(f"wall time: {time.perf_counter() - t0:.0f} s ({len(CLASSES) * args.per_class} images, {args.epochs} epochs "
          f"per point at {args.imgsz} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
