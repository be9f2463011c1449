"""Regenerate datasets/sample (10 classes x 40 Fashion-MNIST TRAINING images, CSV form).

    python scripts/make_sample.py
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from fashion_mnist import CLASSES, load  # noqa: E402

PER_CLASS = 40
OUT = Path(__file__).resolve().parent.parent / "datasets" / "sample"


def main() -> None:
    x, y = load("train")
    rng = np.random.default_rng(2026)
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for c, name in enumerate(CLASSES):
        idx = np.sort(rng.choice(np.nonzero(y == c)[0], PER_CLASS, replace=False))
        for i in idx:
            fname = f"fmnist_{i:05d}.png"
            Image.fromarray(x[i], mode="L").save(OUT / "images" / fname, optimize=True)
            rows.append((f"images/{fname}", name))
    rows.sort()
    with (OUT / "labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["filename", "label"])
        w.writerows(rows)
    print(f"wrote {len(rows)} images to {OUT}")


if __name__ == "__main__":
    main()
