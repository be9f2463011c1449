"""`yolocls tune`: 8 trials with ASHA early stopping (trials side by side on the free CPUs) against the same 8
trials one after another without early stopping; and the best trial against the preset's default settings.

    .venv/bin/python bench/sweep.py [--trials 8] [--epochs 6] [--imgsz 32] [--per-class 600]

Fashion-MNIST (Debian `dataset-fashion-mnist`), `--per-class` images per class prepared 80/10/10; the same seed,
so both sweeps sample the same configurations. Prints both wall times and their ratio, the best trial's val
top-1 and the default's. Files in bench/_work/sweep/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.fmnist import CLASSES, require, split, write_pngs  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / "_work" / "sweep"
YOLOCLS = [sys.executable, "-m", "yolocls"]


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True, text=True)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--imgsz", type=int, default=32)
    parser.add_argument("--per-class", type=int, default=600)
    args = parser.parse_args()
    require()
    subprocess.run(["rm", "-rf", str(WORK)], check=True)
    images, labels = split("train")
    rng = np.random.default_rng(1)
    write_pngs(WORK / "src", images, labels, {ci: rng.permutation(np.flatnonzero(labels == ci))[:args.per_class]
                                             for ci in range(len(CLASSES))})
    data = WORK / "data"
    subprocess.run([*YOLOCLS, "prepare", str(WORK / "src"), "--out", str(data)], check=True, capture_output=True)
    common = [str(data), "--trials", str(args.trials), "--epochs", str(args.epochs), "--imgsz", str(args.imgsz),
              "--batch", "64", "--no-pretrained", "--set", "workers=0", "--runs-dir", str(WORK / "runs"), "--quiet"]
    asha = timed([*YOLOCLS, "tune", *common, "--name", "asha"])
    serial = timed([*YOLOCLS, "tune", *common, "--name", "serial", "--no-early-stop", "--concurrent", "1"])
    default = timed([*YOLOCLS, "train", "--data", str(data), "--epochs", str(args.epochs), "--imgsz", str(args.imgsz),
                     "--batch", "64", "--no-pretrained", "--set", "workers=0", "--device", "cpu", "--runs-dir",
                     str(WORK / "runs"), "--name", "default", "--no-report", "--quiet"])
    results = {name: json.loads((WORK / "runs" / name / "sweep.json").read_text()) for name in ("asha", "serial")}
    default_top1 = max(json.loads(line)["top1"] for line in (WORK / "runs" / "default" / "epochs.jsonl").open())
    stopped = sum(t["stopped_early"] for t in results["asha"]["trials"])
    best = results["asha"]["best"]
    print(f"{args.trials} trials x {args.epochs} epochs, {len(CLASSES) * args.per_class} images at {args.imgsz} px")
    print(f"ASHA, side by side: {asha:.0f} s ({stopped} trials stopped early); one after another, no early stop: "
          f"{serial:.0f} s; ratio {asha / serial:.2f}")
    print(f"best trial val top-1 {best['val_top1']:.4f} ({best['config']}); the preset's defaults "
          f"{default_top1:.4f} ({default:.0f} s); serial sweep's best {results['serial']['best']['val_top1']:.4f}")
    (WORK / "result.json").write_text(json.dumps({"asha_s": asha, "serial_s": serial, "ratio": asha / serial,
                                                  "stopped_early": stopped, "best": best,
                                                  "default_top1": default_top1}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
