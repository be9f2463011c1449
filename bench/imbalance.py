"""Imbalanced classes: `--balance weights` and `--balance sampler` against `none`, same data, seed and epochs.

    .venv/bin/python bench/imbalance.py [--epochs 10] [--imgsz 32] [--big 600] [--small 60] [--aug none]

Fashion-MNIST (Debian `dataset-fashion-mnist`): 3 classes (a seeded choice) with `--small` training images and 7
with `--big`, 100 validation images per class from the training set, and the official test set (10,000 images)
as the test split; one prepared dataset, three `yolocls train` runs. Prints each run's test top-1, macro-F1 and
the mean recall of the three small classes, and the gains against `none` (targets: >= 5 points of minority recall,
at most 1 point of top-1 lost). Results in bench/_work/imbalance/result.json.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.fmnist import CLASSES, require, split, write_pngs  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / "_work" / "imbalance"
YOLOCLS = [sys.executable, "-m", "yolocls"]


def build_source(out: Path, big: int, small: int, minority: list[int]) -> None:
    images, labels = split("train")
    rng = np.random.default_rng(0)
    train, val = {}, {}
    for ci in range(len(CLASSES)):
        pool = rng.permutation(np.flatnonzero(labels == ci))
        val[ci] = pool[:100]
        train[ci] = pool[100:100 + (small if ci in minority else big)]
    write_pngs(out / "train", images, labels, train)
    write_pngs(out / "val", images, labels, val)
    test_images, test_labels = split("test")
    write_pngs(out / "test", test_images, test_labels,
               {ci: np.flatnonzero(test_labels == ci) for ci in range(len(CLASSES))})


def train(data: Path, mode: str, args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    subprocess.run([*YOLOCLS, "train", "--data", str(data), "--runs-dir", str(WORK / "runs"), "--name", mode,
                    "--balance", mode, "--epochs", str(args.epochs), "--imgsz", str(args.imgsz), "--batch", "64",
                    "--device", "cpu", "--no-pretrained", "--aug", args.aug, "--quiet",
                    "--set", "seed=0", "--set", "workers=2"], check=True, cwd=REPO)
    report = json.loads((WORK / "runs" / mode / "report" / "metrics.json").read_text())
    return {"seconds": round(time.perf_counter() - t0, 1), "top1": report["top1"], "macro_f1": report["macro"]["f1"],
            "recall": {c: v["recall"] for c, v in report["per_class"].items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--imgsz", type=int, default=32)
    parser.add_argument("--big", type=int, default=600)
    parser.add_argument("--small", type=int, default=60)
    parser.add_argument("--aug", default="none", help="augmentation set of all three runs")
    args = parser.parse_args()
    require()
    minority = sorted(np.random.default_rng(0).choice(len(CLASSES), 3, replace=False).tolist())
    small_names = [CLASSES[i] for i in minority]
    shutil.rmtree(WORK, ignore_errors=True)
    build_source(WORK / "src", args.big, args.small, minority)
    data = WORK / "data"
    subprocess.run([*YOLOCLS, "prepare", str(WORK / "src"), "--out", str(data)], check=True, cwd=REPO,
                   capture_output=True)
    results = {mode: train(data, mode, args) for mode in ("none", "weights", "sampler")}
    for r in results.values():
        r["minority_recall"] = float(np.mean([r["recall"][c] for c in small_names]))
    base = results["none"]
    print(f"small classes ({args.small} training images; the others {args.big}): {', '.join(small_names)}")
    print(f"{'balance':8} {'test top-1':>10} {'macro-F1':>9} {'minority recall':>16} {'gain':>7} {'top-1 lost':>10} "
          f"{'seconds':>8}")
    for mode, r in results.items():
        gain = 100 * (r["minority_recall"] - base["minority_recall"])
        lost = 100 * (base["top1"] - r["top1"])
        print(f"{mode:8} {r['top1']:10.4f} {r['macro_f1']:9.4f} {r['minority_recall']:16.4f} {gain:+6.1f}p "
              f"{lost:+9.1f}p {r['seconds']:8.0f}")
    (WORK / "result.json").write_text(json.dumps({"small_classes": small_names, "args": vars(args),
                                                  "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
