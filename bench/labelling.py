"""Labelling at size: 15,000 Fashion-MNIST images (Debian `dataset-fashion-mnist`) uploaded unlabelled, labels for
14,000 imported from a CSV, the other 1,000 labelled through the API, a version cut; each figure against its
baseline in the same run:

1. the CSV import of 14,000 rows (target <= 5 s);
2. cutting the version (queued -> completed, the build job included) vs `yolocls prepare` on the same 15,000
   images in class folders (target: ratio <= 1.5);
3. the grid page of the 15,000 images in headless Chromium: time to its first render and bytes transferred before
   any scrolling (targets <= 1 s, <= 1 MB);
4. the studio's peak memory (web process, and its Ray driver) over the whole run.

    .venv/bin/python bench/labelling.py [--images 15000] [--imported 14000]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import cv2
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.fmnist import CLASSES, require, split  # noqa: E402
from bench.pages import first_render  # noqa: E402
from tests.helpers import Studio  # noqa: E402


def unlabelled_zip(n: int, folder: Path) -> tuple[bytes, dict[str, str]]:
    """n images in one flat folder of the zip (names say nothing of the class), their true labels; the same images
    also written as class folders under `folder` (for the `yolocls prepare` baseline)."""
    x, y = split("train")
    truth: dict[str, str] = {}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n):
            png = cv2.imencode(".png", x[i])[1].tobytes()
            name = f"{i:05d}.png"
            zf.writestr(f"pile/{name}", png)
            truth[name] = CLASSES[y[i]]
            (folder / CLASSES[y[i]]).mkdir(parents=True, exist_ok=True)
            (folder / CLASSES[y[i]] / name).write_bytes(png)
    return buf.getvalue(), truth


class PeakRSS(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc, self.peak, self.driver_peak, self.stop = psutil.Process(pid), 0, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
                drivers = [c for c in self.proc.children() if "spawn_main" in " ".join(c.cmdline())]
                self.driver_peak = max([self.driver_peak, *(c.memory_info().rss for c in drivers)])
            except psutil.Error:
                pass
            time.sleep(0.05)


def grid_page(url: str) -> tuple[float, int] | None:
    """(seconds to the first render, bytes transferred before scrolling) of the grid in headless Chromium."""
    return first_render(url, "return document.querySelectorAll('#grid li img').length > 0 && "
                        "!document.getElementById('grid-status').textContent.startsWith('Loading')")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=15_000)
    ap.add_argument("--imported", type=int, default=14_000)
    args = ap.parse_args()
    require()
    work = Path(tempfile.mkdtemp(prefix="bench-labelling-"))
    data, truth = unlabelled_zip(args.images, work / "folders")
    studio = Studio(work / "home", env={"YOLOCLS_MAX_UPLOAD_BYTES": str(4 * 1024**3)}).start()
    rss = PeakRSS(studio.proc.pid)  # type: ignore[union-attr]
    rss.start()
    try:
        t0 = time.perf_counter()
        created = studio.api("POST", "/datasets", files={"file": ("pile.zip", data)},
                             data={"name": "pile", "labelling": "true"}).json()
        ds = studio.wait(f"/datasets/{created['dataset']['id']}", lambda d: d["status"] != "preparing", 1800)
        assert ds["status"] == "labelling", ds
        print(f"{ds['images']} images uploaded for labelling and checked in {time.perf_counter() - t0:.1f} s "
              f"({os.cpu_count()} cores)")
        names = sorted(truth)
        rows = "filename,label\n" + "".join(f"{n},{truth[n]}\n" for n in names[:args.imported])
        t0 = time.perf_counter()
        summary = studio.api("POST", f"/datasets/{ds['id']}/labels/import", content=rows.encode()).json()
        imported = time.perf_counter() - t0
        assert summary["applied"] == args.imported, summary
        print(f"CSV import of {args.imported} rows: {imported:.2f} s (target <= 5 s)")
        left = studio.api("GET", f"/datasets/{ds['id']}/images", params={"state": "unlabelled", "limit": 1000})
        t0 = time.perf_counter()
        by_class: dict[str, list[dict]] = {}
        for im in left.json()["images"]:
            by_class.setdefault(truth[im["name"].rsplit("/", 1)[-1]], []).append(im)
        for label, images in by_class.items():
            res = studio.api("POST", f"/datasets/{ds['id']}/labels", json={
                "images": [{"id": im["id"], "revision": im["revision"]} for im in images], "label": label})
            assert not res.json()["conflicts"], res.text
        print(f"the other {sum(map(len, by_class.values()))} labelled through the API (one request per class): "
              f"{time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        cut = studio.api("POST", f"/datasets/{ds['id']}/versions").json()
        job = studio.wait(f"/jobs/{cut['job']['id']}", lambda j: j["status"] not in ("queued", "running"), 1800)
        cutting = time.perf_counter() - t0
        assert job["status"] == "completed", job
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "yolocls", "prepare", str(work / "folders"), "--out",
                        str(work / "prepared")], check=True, capture_output=True)
        prepare = time.perf_counter() - t0
        print(f"cutting version 1 of {args.images} images: {cutting:.1f} s; `yolocls prepare` on the same images: "
              f"{prepare:.1f} s; ratio {cutting / prepare:.2f} (target <= 1.5)")
        page = grid_page(f"{studio.url}/datasets/{ds['id']}/grid")
        if page is None:
            print("grid page: skipped (selenium or chromedriver missing)")
        else:
            print(f"grid page of {args.images} images: first render {page[0]:.2f} s, {page[1] / 1e6:.2f} MB "
                  "transferred before scrolling (targets <= 1 s, <= 1 MB)")
    finally:
        rss.stop.set()
        studio.stop()
    print(f"studio peak memory: web process {rss.peak / 1e6:.0f} MB, its Ray driver {rss.driver_peak / 1e6:.0f} MB")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
