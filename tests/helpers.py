"""Helpers shared by the test modules (images, datasets, a studio process, a server, raw connections): test
modules import them from here, never from each other."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


SAMPLE = REPO / "datasets" / "sample"


def noise_image(seed: int, size: tuple[int, int] = (48, 40), mode: str = "RGB") -> Image.Image:
    """A distinct random image (different seeds never look alike)."""
    rng = np.random.default_rng(seed)
    w, h = size
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB").convert(mode) if mode != "RGB" else Image.fromarray(arr, "RGB")


def class_image(label_index: int, seed: int, size: int = 40) -> Image.Image:
    """An easily learnable image: a class colour, a random bright square, and noise (distinct per seed)."""
    rng = np.random.default_rng(seed)
    palette = [(220, 40, 40), (40, 200, 60), (40, 60, 220), (230, 200, 40), (160, 40, 200), (40, 200, 200)]
    arr = np.tile(np.array(palette[label_index % len(palette)], dtype=np.int16), (size, size, 1))
    arr = arr + rng.integers(-40, 41, arr.shape)
    y, x = rng.integers(0, size - 12, 2)
    arr[y : y + 12, x : x + 12] = 255 - arr[y : y + 12, x : x + 12]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def make_learnable_dataset(base: Path, classes: tuple[str, ...] = ("red", "green", "blue"),
                           per_class: int | tuple[int, ...] = 30) -> Path:
    """Prepared; `per_class` a count for every class, or one per class (imbalanced)."""
    from yolocls.data.prepare import PrepareOptions, prepare_dataset

    src = base / "src"
    counts = per_class if isinstance(per_class, tuple) else (per_class,) * len(classes)
    for ci, name in enumerate(classes):
        (src / name).mkdir(parents=True, exist_ok=True)
        for k in range(counts[ci]):
            class_image(ci, ci * 1000 + k).save(src / name / f"{k:03d}.png")
    out = base / "data"
    prepare_dataset(PrepareOptions(source=src, out=out, split="0.6,0.2,0.2", progress=False))
    return out


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def jpeg(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return cv2.imencode(".jpg", arr)[1].tobytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, *extra: str, env_extra: dict[str, str] | None = None
                  ) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "YOLOCLS_MAX_BATCH": "8", "YOLOCLS_MAX_WAIT_MS": "5", **(env_extra or {})}
    for _ in range(3):  # a free port can be taken before the server binds it: then another one
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "yolocls", "serve", "--model", str(model), "--port", str(port),
                                 *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    return proc, url
            except httpx.HTTPError:
                time.sleep(0.2)
        proc.kill()
        said = proc.stdout.read().decode()[-2000:]  # type: ignore[union-attr]
        if "address already in use" not in said:
            break
    pytest.fail("server did not become ready: " + said)


def hold_idle_connections(url: str, count: int) -> list[socket.socket]:
    """`count` connections that send nothing, or half a request line and then nothing (slowloris)."""
    host, port = url.removeprefix("http://").split(":")
    socks = []
    for i in range(count):
        sock = socket.create_connection((host, int(port)), timeout=5)
        if i % 2:
            sock.sendall(b"GET /health HTTP/1.1\r\nHo")
        socks.append(sock)
    return socks


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


CLASSES = ("red", "green", "blue")


def png_bytes(ci: int, k: int) -> bytes:
    buf = io.BytesIO()
    class_image(ci, 7000 + ci * 100 + k).save(buf, "PNG")
    return buf.getvalue()


PER_CLASS = 12


def unlabelled_zip(csv_rows: int = 0, extra: dict[str, bytes] | None = None) -> bytes:
    """PER_CLASS images of each colour in one flat folder (names say nothing), a labels CSV for the first
    `csv_rows`, an exact copy of one image and a file that is not an image."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        rows = ["filename,label"]
        for ci, name in enumerate(CLASSES):
            for k in range(PER_CLASS):
                n = ci * PER_CLASS + k
                zf.writestr(f"shots/img_{n:03d}.png", png_bytes(ci, k))
                if len(rows) <= csv_rows:
                    rows.append(f"img_{n:03d}.png,{name}")
        zf.writestr("shots/copy_of_000.png", png_bytes(0, 0))
        zf.writestr("shots/broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
        if csv_rows:
            zf.writestr("shots/labels.csv", "\n".join(rows) + "\n")
    return buf.getvalue()


def dataset_zip(classes: tuple[str, ...] = CLASSES, per_class: int = 20) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for ci, name in enumerate(classes):
            for k in range(per_class):
                zf.writestr(f"photos/{name}/{k:03d}.png", png_bytes(ci, k))
    return buf.getvalue()


class Studio:
    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home, self.port = home, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "YOLOCLS_MAX_UPLOAD_BYTES": "8000000", "YOLOCLS_POLL_S": "0.1",
                    "YOLOCLS_SSE_PING_S": "0.5", **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.headers: dict[str, str] = {}

    def start(self, tries: int = 3) -> Studio:
        self.proc = subprocess.Popen([sys.executable, "-m", "yolocls", "studio", "--home", str(self.home), "--port",
                                      str(self.port)], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.3)
            if self.proc.poll() is not None:
                break
        self.proc.kill()
        said = self.proc.stdout.read().decode()[-3000:]  # type: ignore[union-attr]
        if "address already in use" in said and tries > 1:  # the free port was taken meanwhile (Ray's, often)
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            return self.start(tries - 1)
        pytest.fail("studio did not start: " + said)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def driver_pid(self) -> int:
        """The studio's Ray driver: its child process started by multiprocessing (spawn), parent of Ray's own."""
        import psutil

        children = psutil.Process(self.proc.pid).children()  # type: ignore[union-attr]
        drivers = [c.pid for c in children if "spawn_main" in " ".join(c.cmdline()) and c.children()]
        assert len(drivers) == 1, [(c.pid, c.cmdline()) for c in children]
        return drivers[0]

    def engine_lost(self) -> None:
        """Kill the studio's Ray driver and wait until the studio says its job engine is unavailable."""
        os.kill(self.driver_pid(), signal.SIGKILL)
        deadline = time.time() + 30
        while httpx.get(f"{self.url}/ready").status_code != 503:
            assert time.time() < deadline, "the studio did not notice its job engine was gone"
            time.sleep(0.1)

    def api(self, method: str, path: str, headers: dict[str, str] | None = None, **kw) -> httpx.Response:
        return httpx.request(method, f"{self.url}/api/v1{path}", timeout=120, headers=headers or self.headers, **kw)

    def wait(self, path: str, done, timeout: float = 300) -> dict:
        deadline = time.time() + timeout
        body: dict = {}
        while time.time() < deadline:
            body = self.api("GET", path).json()
            if done(body):
                return body
            time.sleep(0.2)
        pytest.fail(f"timed out waiting on {path}: {body}")

    def upload_zip(self, data: bytes, **fields: str) -> httpx.Response:
        return self.api("POST", "/datasets", files={"file": ("photos.zip", data, "application/zip")}, data=fields)

    def deploy(self, run: str, model: str) -> dict:
        """Deploy through the deploy job; the registered version."""
        res = self.api("POST", f"/runs/{run}/deploy", json={"model": model})
        assert res.status_code == 202 and res.json()["kind"] == "deploy", res.text
        job = self.wait(f"/jobs/{res.json()['id']}", lambda j: j["status"] not in ("queued", "running"))
        assert job["status"] == "completed", job
        return dict(job["deployed"])

    def ready_dataset(self, name: str) -> str:
        res = self.upload_zip(dataset_zip(), name=name, split="0.6,0.2,0.2")
        assert res.status_code == 202, res.text
        ds = self.wait(f"/datasets/{res.json()['dataset']['id']}", lambda d: d["status"] != "preparing")
        assert ds["status"] == "ready", ds
        return str(ds["id"])

    def train(self, dataset: str, epochs: int = 2, **extra) -> dict:
        body = {"dataset": dataset, "epochs": epochs, "imgsz": 32, "batch": 8, "device": "cpu", "aug": "none",
                "set": {"warmup_epochs": 0, "workers": 0}, **extra}
        res = self.api("POST", "/jobs", json=body)
        assert res.status_code == 202, res.text
        return res.json()


def raw_request(port: int, head: str, body_bytes: int = 0, chunk: int = 1 << 20) -> tuple[int, str]:
    """Send request headers (and up to `body_bytes` of body, stopping when the server answers or hangs up);
    return the status and the answer's body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        sent = 0
        try:
            while sent < body_bytes:
                sock.sendall(b"x" * min(chunk, body_bytes - sent))
                sent += chunk
        except OSError:
            pass  # the server answered and closed before the body was sent: what we want
        data = b""
        try:
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 2:
                more = sock.recv(65536)
                if not more:
                    break
                data += more
        except OSError:
            pass
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")
