"""The README's studio screenshots, from a real session: the bundled sample uploaded as a zip, trained at 224 px
(so the model has heatmaps), deployed and tried, each page captured in headless Chromium.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--epochs 12]

Needs chromium + chromium-driver (apt install chromium chromium-driver). Takes a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "datasets" / "sample"


def sample_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(SAMPLE.rglob("*")):
            if path.is_file():
                zf.write(path, f"sample/{path.relative_to(SAMPLE)}")
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(what, check, timeout: float = 900):  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    sys.exit(f"timed out waiting for {what}")


def browser() -> webdriver.Chrome:
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--hide-scrollbars"):
        opts.add_argument(arg)
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"))


def capture(driver: webdriver.Chrome, url: str, out: Path, ready: str, height: int = 1000) -> None:
    driver.set_window_size(1280, height)
    driver.get(url)
    WebDriverWait(driver, 120).until(lambda d: d.find_elements(By.CSS_SELECTOR, ready))
    time.sleep(1.5)  # thumbnails and charts
    driver.save_screenshot(str(out))
    print(f"wrote {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    ap.add_argument("--epochs", type=int, default=12)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="yolocls-shots-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "yolocls", "studio", "--home", str(home), "--port", str(port)],
                            env={**os.environ, "YOLOCLS_POLL_S": "0.2"})
    api = httpx.Client(base_url=f"{url}/api/v1", timeout=600)
    try:
        wait("the studio", lambda: _up(url), 120)
        created = api.post("/datasets", files={"file": ("sample.zip", sample_zip(), "application/zip")},
                           data={"name": "fashion"}).json()
        ds = created["dataset"]["id"]
        wait("the dataset", lambda: api.get(f"/datasets/{ds}").json()["status"] == "ready")
        job = api.post("/jobs", json={"dataset": ds, "preset": "small-fast", "epochs": args.epochs, "imgsz": 224,
                                      "device": "cpu"}).json()
        driver = browser()
        wait("two epochs", lambda: api.get(f"/jobs/{job['id']}").json()["epoch"] >= 2)
        capture(driver, f"{url}/runs/{job['run']}", args.out / "run-live.png", "#chart-loss canvas", 1500)
        wait("the job", lambda: api.get(f"/jobs/{job['id']}").json()["status"] in ("completed", "failed"))
        api.post(f"/runs/{job['run']}/deploy", json={"model": "fashion"}).raise_for_status()
        capture(driver, f"{url}/datasets", args.out / "datasets.png", "#datasets a")
        capture(driver, f"{url}/datasets/{ds}", args.out / "dataset.png", "#samples img", 1600)
        capture(driver, f"{url}/train?dataset={ds}", args.out / "train.png", "#preset-args td")
        driver.get(f"{url}/runs/{job['run']}")
        WebDriverWait(driver, 120).until(lambda d: d.find_element(By.ID, "after-body").is_displayed())
        time.sleep(2)
        cells = driver.find_elements(By.CSS_SELECTOR, "#cm tbody button")
        off_diagonal = [c for i, c in enumerate(cells) if i % 11 and c.text != "0"]
        (off_diagonal or cells)[0].click()
        time.sleep(2)
        driver.execute_script("document.getElementById('after').scrollIntoView()")
        driver.set_window_size(1280, 1500)
        time.sleep(1)
        driver.save_screenshot(str(args.out / "run-evaluation.png"))
        capture(driver, f"{url}/runs", args.out / "runs.png", "#runs tbody a", 700)
        driver.get(f"{url}/models")
        WebDriverWait(driver, 60).until(lambda d: "fashion" in d.find_element(By.ID, "try-model").text)
        driver.find_element(By.ID, "try-file").send_keys(str(confident_image(api, home)))
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#try-result .bar"))
        time.sleep(1)
        driver.save_screenshot(str(args.out / "models.png"))
        driver.quit()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return 0


def confident_image(api: httpx.Client, home: Path) -> Path:
    """The test image the deployed model answers most confidently and correctly (a typical "try" moment)."""
    best: tuple[float, Path] | None = None
    for image in sorted((home / "datasets" / "fashion" / "test").rglob("*.png")):
        p = api.post("/models/fashion/predict", files={"file": (image.name, image.read_bytes())}).json()
        p = p["predictions"][0]
        if not p["unknown"] and p["class"] == image.parent.name and (best is None or p["confidence"] > best[0]):
            best = (p["confidence"], image)
    return best[1] if best else next((home / "datasets" / "fashion" / "test").rglob("*.png"))


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
