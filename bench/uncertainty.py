"""Label the hard ones first? From a pool of Fashion-MNIST images (Debian `dataset-fashion-mnist`) uploaded to the
studio unlabelled, start with 200 labelled at random, then 4 rounds of +200: chosen by the model's uncertainty
(the studio's suggestions of the last round's run, smallest margin first) vs at random; labels filled in from the
truth through the API, a version cut and a model trained each round with the same settings. Test top-1 on 2,000
images of the official test set after every round, for both; a plot in bench/_work/results/uncertainty.png.

    .venv/bin/python bench/uncertainty.py [--pool 5000] [--start 200] [--step 200] [--rounds 4] [--epochs 15]
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.fmnist import CLASSES, require, split  # noqa: E402
from tests.helpers import Studio  # noqa: E402

RESULTS = REPO / "bench" / "_work" / "results"  # git-ignored; the README shows a copy in docs/plots/


def pool_zip(n: int) -> tuple[bytes, dict[str, str]]:
    x, y = split("train")
    truth, buf = {}, io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n):
            zf.writestr(f"pool/{i:05d}.png", cv2.imencode(".png", x[i])[1].tobytes())
            truth[f"{i:05d}.png"] = CLASSES[y[i]]
    return buf.getvalue(), truth


def label(studio: Studio, ds: str, images: list[dict], truth: dict[str, str]) -> None:
    by_class: dict[str, list[dict]] = {}
    for im in images:
        by_class.setdefault(truth[im["name"].rsplit("/", 1)[-1]], []).append(im)
    for cls, chosen in by_class.items():
        if not studio.api("GET", f"/datasets/{ds}/classes").json() or cls not in {
                c["name"] for c in studio.api("GET", f"/datasets/{ds}/classes").json()}:
            studio.api("POST", f"/datasets/{ds}/classes", json={"name": cls})
        res = studio.api("POST", f"/datasets/{ds}/labels", json={
            "images": [{"id": im["id"], "revision": im["revision"]} for im in chosen], "label": cls})
        assert res.status_code == 200 and not res.json()["conflicts"], res.text


def done(studio: Studio, job: dict, timeout: float = 3600) -> dict:
    end = studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] not in ("queued", "running"), timeout)
    assert end["status"] == "completed", end
    return end


def train_round(studio: Studio, ds: str, epochs: int) -> str:
    cut = studio.api("POST", f"/datasets/{ds}/versions").json()
    done(studio, cut["job"])
    n_train = sum(studio.api("GET", f"/datasets/{ds}").json()["counts"]["train"].values())
    batch = next(b for b in range(32, 8, -1) if n_train % b != 1)  # a last batch of 1 cannot train at 32 px
    job = studio.train(ds, epochs=epochs, imgsz=32, batch=batch, set={"warmup_epochs": 0, "workers": 0})
    return str(done(studio, job)["run"])


def test_top1(studio: Studio, run: str, n: int) -> float:
    from yolocls.evaluation.torch_predictor import TorchPredictor
    from yolocls.inference.predictor import predict_paths

    x, y = split("test")
    folder = Path(tempfile.mkdtemp(prefix="fmnist-test-"))
    paths = []
    for i in range(n):
        paths.append(folder / f"{i:05d}.png")
        cv2.imwrite(str(paths[-1]), x[i])
    model = TorchPredictor(studio.home / "runs" / run / "weights" / "best.pt", "cpu")
    probs = predict_paths(model, paths)
    predicted = [model.classes[int(p.argmax())] for p in probs]
    return float(np.mean([p == CLASSES[t] for p, t in zip(predicted, y[:n])]))


def strategy(studio: Studio, data: bytes, truth: dict[str, str], name: str, args: argparse.Namespace) -> list[float]:
    created = studio.api("POST", "/datasets", files={"file": ("pool.zip", data)},
                         data={"name": name, "labelling": "true"}).json()
    ds = studio.wait(f"/datasets/{created['dataset']['id']}", lambda d: d["status"] != "preparing", 1800)["id"]
    everything = studio.api("GET", f"/datasets/{ds}/images", params={"limit": 1000}).json()["total"]
    pages = [studio.api("GET", f"/datasets/{ds}/images", params={"limit": 1000, "offset": o}).json()["images"]
             for o in range(0, everything, 1000)]
    images = [im for page in pages for im in page]
    rng = random.Random(0)  # the same 200 to start with, for both strategies
    label(studio, ds, rng.sample(images, args.start), truth)
    scores = []
    for r in range(args.rounds + 1):
        t0 = time.perf_counter()
        run = train_round(studio, ds, args.epochs)
        scores.append(test_top1(studio, run, args.test))
        labelled = studio.api("GET", f"/datasets/{ds}/labelling").json()["labelled"]
        print(f"{name}: round {r}, {labelled} labelled: test top-1 {scores[-1]:.4f} ({time.perf_counter() - t0:.0f} s)",
              flush=True)
        if r == args.rounds:
            break
        if name == "uncertainty":
            done(studio, studio.api("POST", f"/datasets/{ds}/suggestions", json={"run": run}).json())
            chosen = studio.api("GET", f"/datasets/{ds}/images", params={
                "state": "unlabelled", "order": "uncertainty", "limit": args.step}).json()["images"]
        else:
            left = studio.api("GET", f"/datasets/{ds}/images/ids", params={"state": "unlabelled"}).json()["ids"]
            picked = set(random.Random(100 + r).sample(left, args.step))
            chosen = [im for page in (studio.api("GET", f"/datasets/{ds}/images", params={
                "state": "unlabelled", "limit": 1000, "offset": o}).json()["images"] for o in range(0, len(left), 1000))
                for im in page if im["id"] in picked]
        label(studio, ds, chosen, truth)
    return scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", type=int, default=5000)
    ap.add_argument("--start", type=int, default=200)
    ap.add_argument("--step", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--test", type=int, default=2000)
    args = ap.parse_args()
    require()
    data, truth = pool_zip(args.pool)
    studio = Studio(Path(tempfile.mkdtemp(prefix="bench-uncertainty-")) / "home",
                    env={"YOLOCLS_MAX_UPLOAD_BYTES": str(4 * 1024**3)}).start()
    try:
        results = {name: strategy(studio, data, truth, name, args) for name in ("uncertainty", "random")}
    finally:
        studio.stop()
    sizes = [args.start + r * args.step for r in range(args.rounds + 1)]
    print("labelled  uncertainty  random")
    for i, n in enumerate(sizes):
        print(f"{n:8d}  {results['uncertainty'][i]:.4f}       {results['random'][i]:.4f}")
    wins = [results["uncertainty"][i] >= results["random"][i] for i in range(1, len(sizes))]
    print(f"uncertainty >= random at every round after the first: {all(wins)} ({sum(wins)} of {len(wins)})")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, marker in (("uncertainty", "o"), ("random", "s")):
        ax.plot(sizes, results[name], marker=marker, label=name)
    ax.set_xlabel("labelled images")
    ax.set_ylabel(f"test top-1 ({args.test} official test images)")
    ax.set_title("Labelling the model's least sure images first vs at random")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "uncertainty.png", dpi=100)
    print(f"plot: {RESULTS / 'uncertainty.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
