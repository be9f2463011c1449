"""Overhead of `yolocls train` over a direct Ultralytics `YOLO(...).train(...)` call.

    .venv/bin/python bench/train_overhead.py [--rounds 2] [--epochs 5] [--imgsz 64]

Same prepared dataset (the bundled sample), same fully resolved arguments (taken from the first
run's run.json), both as fresh processes, alternating. Prints the wall-time ratio (target <= 1.05).
`yolocls train` runs with --no-report so both sides do the same work (training + Ultralytics' final val), and with
the torch threads Ultralytics would pick (YOLOCLS_CPU_THREADS=min(8, cores - 1); yolocls' own default is every
usable core), so the ratio is the overhead, not the thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from yolocls.core.offline import import_ultralytics
from yolocls.training.hyperparams import ultralytics_args  # the keys yolocls applies itself, left out

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "_work" / "train"


def ultralytics_threads() -> int:
    """The torch threads Ultralytics trains with on the CPU."""
    import_ultralytics()
    from ultralytics.utils import NUM_THREADS

    return int(NUM_THREADS)


def timed(cmd: list[str]) -> float:
    env = {**os.environ, "YOLOCLS_CPU_THREADS": str(ultralytics_threads())}
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--imgsz", type=int, default=64)
    args = ap.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    data = WORK / "data"
    subprocess.run([sys.executable, "-m", "yolocls", "prepare", str(ROOT / "datasets" / "sample"), "--out", str(data)],
                   check=True, capture_output=True)
    ours_cmd = lambda name: [sys.executable, "-m", "yolocls", "train", "--data", str(data), "--runs-dir",  # noqa: E731
                             str(WORK / "yolocls"), "--name", name, "--epochs", str(args.epochs), "--imgsz",
                             str(args.imgsz), "--no-report", "--quiet", "--no-pretrained", "--device", "cpu"]
    ours, direct = [], []
    timed(ours_cmd("warmup"))  # untimed: warms the page cache and gives the resolved arguments
    resolved = json.loads((WORK / "yolocls" / "warmup" / "run.json").read_text())["args"]
    for r in range(args.rounds):
        train_args = {**ultralytics_args(resolved), "project": str(WORK / "direct"), "name": f"r{r}", "exist_ok": True,
                      "verbose": False}
        code = ("import os; os.environ['YOLO_OFFLINE']='true'; os.environ['YOLO_VERBOSE']='false'\n"
                "from ultralytics import YOLO\n"
                f"YOLO('yolov8n-cls.yaml', task='classify').train(**{train_args!r})")
        order = [(direct, [sys.executable, "-c", code]), (ours, ours_cmd(f"r{r}"))]
        for times, cmd in order if r % 2 == 0 else order[::-1]:  # alternate which side goes first
            times.append(timed(cmd))
        print(f"round {r + 1}: yolocls train {ours[-1]:.1f}s, direct YOLO().train {direct[-1]:.1f}s")
    ratio = statistics.median(ours) / statistics.median(direct)
    print(f"\n| | median wall time |\n|---|---|\n| direct YOLO('yolov8n-cls.yaml').train(...) | "
          f"{statistics.median(direct):.1f}s |\n| yolocls train | {statistics.median(ours):.1f}s |")
    print(f"ratio yolocls/direct = {ratio:.3f} (target <= 1.05); {args.epochs} epochs at {args.imgsz} px, "
          "320 training images, CPU")


if __name__ == "__main__":
    main()
