"""Are the heatmaps faithful, and do they cost the default path anything?

Faithfulness, on a trained model's test split: hide (set to the image's mean colour) the 20 % of the
model's input that the predicted class's heatmap ranks highest, a random 20 % (baseline), and the 20 % it
ranks lowest; report the mean drop of the predicted class's probability for each, with ratios. A faithful
map hurts most when its top pixels are hidden.

Speed: the default prediction (probabilities only) of the exported model with the `cam` output vs the same
model with that output removed, alternating, same batches.

    .venv/bin/python bench/explain.py [--run RUN_DIR] [--epochs 15] [--imgsz 64]

Without --run a model is trained on the bundled sample (Fashion-MNIST, 10 classes) and exported first.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from yolocls.data.layout import list_split  # noqa: E402
from yolocls.inference.onnx_predictor import OnnxPredictor  # noqa: E402
from yolocls.inference.preprocess import load_image, preprocess  # noqa: E402
from yolocls.training.rundir import load_run_record  # noqa: E402

WORK = REPO / "bench" / "_work" / "explain"  # (a trained model is cached here per --imgsz)
FRACTION = 0.2


def trained_run(epochs: int, imgsz: int) -> Path:
    run = WORK / "runs" / f"fm-{imgsz}"
    if (run / "export.json").is_file():
        return run
    y = [sys.executable, "-m", "yolocls"]
    if not (WORK / "data" / "manifest.json").is_file():
        subprocess.run([*y, "prepare", str(REPO / "datasets" / "sample"), "--out", str(WORK / "data")], check=True)
    subprocess.run([*y, "train", "--data", str(WORK / "data"), "--runs-dir", str(WORK / "runs"), "--name", run.name,
                    "--epochs", str(epochs), "--imgsz", str(imgsz), "--batch", "16", "--no-pretrained", "--quiet",
                    "--set", "warmup_epochs=0"], check=True)
    subprocess.run([*y, "export", str(run)], check=True)
    return run


def hide(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = x.copy()
    mean = x.reshape(3, -1).mean(axis=1)
    out[:, mask] = mean[:, None]
    return out


def faithfulness(model: OnnxPredictor, paths: list[Path], seed: int = 0, block: int = 8) -> dict[str, list[float]]:
    """Hide 20 % of the input as whole blocks (block x block px), so that the heatmap's choice and the random
    baseline remove the same kind of thing: contiguous patches, not a salt-and-pepper scatter of pixels."""
    rng = np.random.default_rng(seed)
    drops: dict[str, list[float]] = {"top": [], "random": [], "bottom": []}
    size = model.imgsz
    cells = size // block
    k = max(1, int(round(FRACTION * cells * cells)))
    for path in paths:
        x = preprocess(load_image(path), size)
        probs, cams = model.predict_cam(x[None])
        c = int(probs[0].argmax())
        heat = cv2.resize(cams[0, c], (size, size), interpolation=cv2.INTER_LINEAR)
        per_block = heat[:cells * block, :cells * block].reshape(cells, block, cells, block).mean(axis=(1, 3)).ravel()
        order = np.argsort(-per_block, kind="stable")
        chosen = {"top": order[:k], "bottom": order[-k:], "random": rng.choice(cells * cells, k, replace=False)}
        hidden = []
        for name in ("top", "random", "bottom"):
            grid = np.zeros(cells * cells, bool)
            grid[chosen[name]] = True
            mask = np.zeros((size, size), bool)
            mask[:cells * block, :cells * block] = np.kron(grid.reshape(cells, cells), np.ones((block, block))) > 0
            hidden.append(hide(x, mask))
        after = model.predict(np.stack(hidden))[:, c]
        for name, value in zip(("top", "random", "bottom"), after):
            drops[name].append(float(probs[0, c] - value))
    return drops


def without_cam(path: Path, out: Path) -> Path:
    model = onnx.load(str(path))
    graph = model.graph
    for output in [o for o in graph.output if o.name == "cam"]:
        graph.output.remove(output)
    for node in [n for n in graph.node if "cam" in n.output]:
        graph.node.remove(node)
    for init in [i for i in graph.initializer if i.name.startswith("cam.")]:
        graph.initializer.remove(init)
    onnx.save(model, str(out))
    return out


def speed(with_cam: OnnxPredictor, plain: OnnxPredictor, batch: np.ndarray, rounds: int = 30) -> tuple[float, float]:
    times: dict[str, list[float]] = {"cam": [], "plain": []}
    for model in (with_cam, plain):
        model.predict(batch)  # warm-up
    for _ in range(rounds):
        for name, model in (("plain", plain), ("cam", with_cam)):
            start = time.perf_counter()
            model.predict(batch)
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["cam"]), statistics.median(times["plain"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--imgsz", type=int, default=64)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    run = args.run or trained_run(args.epochs, args.imgsz)
    model = OnnxPredictor(run / "weights" / "best.onnx")
    record = load_run_record(run)
    assert record is not None
    dataset = Path(record.dataset)
    paths, _ = list_split(dataset, "test" if (dataset / "test").is_dir() else "val", model.classes)
    drops = faithfulness(model, paths)
    mean = {k: float(np.mean(v)) for k, v in drops.items()}
    print(f"faithfulness on {len(paths)} test images of {run.name} at {model.imgsz} px (hide {FRACTION:.0%} of the "
          "input as 8 px blocks; mean drop of the predicted class's probability):")
    print("| hidden pixels | mean drop | drop > 0 |\n|---|---|---|")
    for name in ("top", "random", "bottom"):
        print(f"| heatmap {name if name != 'random' else '(random 20 %)'} | {mean[name]:.4f} | "
              f"{np.mean(np.array(drops[name]) > 0):.0%} |")
    print(f"ratio top/random {mean['top'] / mean['random']:.2f}, top/bottom {mean['top'] / mean['bottom']:.2f}"
          if mean["random"] > 0 and mean["bottom"] > 0 else f"means: {mean}")
    plain = OnnxPredictor(without_cam(run / "weights" / "best.onnx", WORK / "plain.onnx"))
    for n in (1, 16):
        batch = np.stack([preprocess(load_image(p), model.imgsz) for p in paths[:n]])
        t_cam, t_plain = speed(model, plain, batch)
        print(f"default predict, batch {n}: {t_cam * 1000:.2f} ms with the cam output vs {t_plain * 1000:.2f} ms "
              f"without (ratio {t_cam / t_plain:.3f})")


if __name__ == "__main__":
    main()
