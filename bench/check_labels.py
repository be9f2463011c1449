"""`yolocls check-labels` on Fashion-MNIST with known label errors: precision and recall of the ranking.

    .venv/bin/python bench/check_labels.py [--images 3000] [--noise 0.05] [--folds 5] [--epochs 12] [--imgsz 32]

--images Fashion-MNIST training images (balanced), --noise of them (seeded) filed under another class chosen at
random; prepared with `yolocls prepare`, then checked. Precision and recall of the ranking's top k, k = the number
of flipped labels (targets: each >= 0.6, within 30 minutes on 2 cores). Then two models on the official test set:
trained on the noisy labels, and on the labels after accepting the top-k suggestions. Files in
bench/_work/check_labels/.
"""

from __future__ import annotations

import argparse
import csv
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
WORK = REPO / "bench" / "_work" / "check_labels"
YOLOCLS = [sys.executable, "-m", "yolocls"]


def noisy_source(out: Path, n: int, noise: float) -> set[str]:
    """Balanced images as out/<class>/<index>.png, `noise` of them moved to another class; their file names."""
    images, labels = split("train")
    rng = np.random.default_rng(0)
    per = n // len(CLASSES)
    picks = {ci: rng.permutation(np.flatnonzero(labels == ci))[:per] for ci in range(len(CLASSES))}
    write_pngs(out, images, labels, picks)
    files = sorted(out.glob("*/*.png"))
    flipped = set()
    for path in rng.choice(files, int(round(noise * len(files))), replace=False):
        wrong = rng.choice([c for c in CLASSES if c != path.parent.name])
        shutil.move(path, out / wrong / path.name)
        flipped.add(path.name)
    return flipped


def test_top1(data: Path, name: str, args: argparse.Namespace) -> float:
    subprocess.run([*YOLOCLS, "train", "--data", str(data), "--runs-dir", str(WORK / "runs"), "--name", name,
                    "--epochs", str(args.epochs), "--imgsz", str(args.imgsz), "--batch", "64", "--device", "cpu",
                    "--no-pretrained", "--set", "workers=2", "--quiet"], check=True, capture_output=True)
    return json.loads((WORK / "runs" / name / "report" / "metrics.json").read_text())["top1"]


def with_test_split(src: Path, out: Path) -> None:
    """The same training images plus the official test set, as a pre-split tree (train/ val/ test/)."""
    rng = np.random.default_rng(1)
    for cls in src.iterdir():
        files = sorted(cls.iterdir())
        rng.shuffle(files)
        cut = len(files) // 10
        for split_name, part in (("val", files[:cut]), ("train", files[cut:])):
            (out / split_name / cls.name).mkdir(parents=True, exist_ok=True)
            for f in part:
                shutil.copy2(f, out / split_name / cls.name / f.name)
    images, labels = split("test")
    write_pngs(out / "test", images, labels, {ci: np.flatnonzero(labels == ci) for ci in range(len(CLASSES))})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--imgsz", type=int, default=32)
    parser.add_argument("--no-retrain", action="store_true", help="skip the noisy vs cleaned test accuracy")
    args = parser.parse_args()
    require()
    shutil.rmtree(WORK, ignore_errors=True)
    flipped = noisy_source(WORK / "src", args.images, args.noise)
    subprocess.run([*YOLOCLS, "prepare", str(WORK / "src"), "--out", str(WORK / "data")], check=True,
                   capture_output=True)
    t0 = time.perf_counter()
    subprocess.run([*YOLOCLS, "check-labels", str(WORK / "data"), "--folds", str(args.folds), "--epochs",
                    str(args.epochs), "--imgsz", str(args.imgsz), "--batch", "64", "--device", "cpu", "--no-pretrained",
                    "--set", "workers=2", "--runs-dir", str(WORK / "runs"), "--name", "check", "--quiet"], check=True)
    seconds = time.perf_counter() - t0
    rows = list(csv.DictReader((WORK / "runs" / "check" / "label_issues.csv").open()))
    k = len(flipped)
    hits = sum(Path(r["path"]).name in flipped for r in rows[:k])
    flagged = [r for r in rows if r["issue"] == "True"]
    flagged_hits = sum(Path(r["path"]).name in flipped for r in flagged)
    print(f"{len(rows)} images, {k} labels flipped; check-labels in {seconds:.0f} s ({args.folds} folds x "
          f"{args.epochs} epochs at {args.imgsz} px)")
    print(f"ranking at k={k}: precision {hits / k:.3f}, recall {hits / k:.3f}")
    print(f"cleanlab's flagged set: {len(flagged)} images, precision {flagged_hits / max(1, len(flagged)):.3f}, "
          f"recall {flagged_hits / k:.3f}")
    if not args.no_retrain:
        fixed = WORK / "fixed"
        shutil.copytree(WORK / "src", fixed)
        for r in rows[:k]:  # accept the top-k suggestions
            name = Path(r["path"]).name
            shutil.move(fixed / r["given"] / name, fixed / r["suggested"] / name)
        for tree, source in (("noisy-split", WORK / "src"), ("fixed-split", fixed)):
            with_test_split(source, WORK / tree)
            subprocess.run([*YOLOCLS, "prepare", str(WORK / tree), "--out", str(WORK / f"{tree}-data")], check=True,
                           capture_output=True)
        noisy = test_top1(WORK / "noisy-split-data", "noisy", args)
        cleaned = test_top1(WORK / "fixed-split-data", "cleaned", args)
        print(f"official test set top-1: trained on the noisy labels {noisy:.4f}, after accepting the top-{k} "
              f"suggestions {cleaned:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
