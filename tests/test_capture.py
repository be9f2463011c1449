"""Capture from production (`yolocls serve --capture DIR`): which requests are kept, the bounds of the store, the
writes off the request path, and a real server keeping what it answered."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import jpeg, png_bytes, start_server
from yolocls.serving.capture import CaptureSettings, CaptureStore, extension

UNKNOWN = {"class": None, "confidence": 0.4, "unknown": True}
SURE = {"class": "red", "confidence": 0.99, "unknown": False}
UNSURE = {"class": "red", "confidence": 0.55, "unknown": False}


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix != ".json" and not p.name.startswith("."))


def settle(store: CaptureStore) -> None:
    store.close()


def test_what_is_kept_and_its_sidecar(tmp_path):
    store = CaptureStore(CaptureSettings(folder=tmp_path, below=0.6))
    assert store.offer(jpeg(1), UNKNOWN, "m:v1") and store.offer(png_bytes(0, 1), UNSURE, "m:v1")
    assert not store.offer(jpeg(2), SURE, "m:v1")  # sure, no sample: not kept
    settle(store)
    kept = images(tmp_path)
    assert [p.suffix for p in kept] == [".jpg", ".png"]  # the type from the bytes, never the client's name
    meta = json.loads(kept[0].with_suffix(".json").read_text())
    assert meta["reason"] == "unknown" and meta["model"] == "m:v1" and meta["prediction"]["unknown"] is True
    assert json.loads(kept[1].with_suffix(".json").read_text())["reason"] == "below"
    assert kept[0].read_bytes() == jpeg(1)  # the exact bytes received
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_the_store_keeps_its_bounds_dropping_the_oldest_also_after_a_restart(tmp_path):
    store = CaptureStore(CaptureSettings(folder=tmp_path, max_files=3))
    for i in range(7):
        store.offer(jpeg(i), UNKNOWN, "m")
    settle(store)
    assert [p.read_bytes() for p in images(tmp_path)] == [jpeg(4), jpeg(5), jpeg(6)]  # the newest three
    again = CaptureStore(CaptureSettings(folder=tmp_path, max_files=3))  # a restart counts what is there
    again.offer(jpeg(7), UNKNOWN, "m")
    settle(again)
    assert [p.read_bytes() for p in images(tmp_path)] == [jpeg(5), jpeg(6), jpeg(7)]
    size = len(jpeg(0)) + 400
    small = CaptureStore(CaptureSettings(folder=tmp_path / "b", max_bytes=2 * size))
    for i in range(6):
        small.offer(jpeg(i), UNKNOWN, "m")
    settle(small)
    on_disk = sum(p.stat().st_size for p in (tmp_path / "b").iterdir())
    assert on_disk <= 2 * size and images(tmp_path / "b")[-1].read_bytes() == jpeg(5)


def test_a_full_queue_drops_instead_of_waiting(tmp_path):
    store = CaptureStore(CaptureSettings(folder=tmp_path, queue_bytes=100_000))
    with store.lock:  # as if images were still waiting to be written (the writer is idle)
        store.waiting = 100_000 - 10
    t0 = time.perf_counter()
    assert not store.offer(jpeg(1), UNKNOWN, "m")
    assert time.perf_counter() - t0 < 0.05 and store.dropped == 1
    with store.lock:
        store.waiting = 0
    assert store.offer(jpeg(2), UNKNOWN, "m")
    settle(store)
    assert [p.read_bytes() for p in images(tmp_path)] == [jpeg(2)]


def test_sample_and_signatures(tmp_path):
    store = CaptureStore(CaptureSettings(folder=tmp_path, unknown=False, sample=1.0))
    assert store.offer(jpeg(1), SURE, "m") and store.offer(jpeg(2), UNKNOWN, "m")
    settle(store)
    assert [json.loads(p.with_suffix(".json").read_text())["reason"] for p in images(tmp_path)] == ["sample"] * 2
    assert extension(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == ".webp" and extension(b"nonsense") == ".bin"


@pytest.mark.integration
def test_a_server_keeps_what_it_answered_unsure_and_nothing_when_capture_is_off(exported_run, tmp_path):
    folder = tmp_path / "captured"
    proc, url = start_server(exported_run, "--capture", str(folder), "--capture-below", "1.0",
                             "--capture-max-files", "3")
    try:
        for i in range(5):
            res = httpx.post(f"{url}/predict", files=[("file", (f"../../{i}.jpg", jpeg(50 + i), "image/jpeg"))],
                             timeout=30)
            assert res.status_code == 200, res.text
        deadline = time.time() + 10
        while "yolocls_captured_images 5.0" not in httpx.get(f"{url}/metrics", timeout=10).text \
                and time.time() < deadline:
            time.sleep(0.1)
        kept = images(folder)
        assert [p.read_bytes() for p in kept] == [jpeg(52), jpeg(53), jpeg(54)]  # bounded: the newest three
        assert all(p.parent == folder for p in folder.rglob("*"))  # a client's file name is never a path
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    off = tmp_path / "off"
    proc, url = start_server(exported_run)
    try:
        assert httpx.post(f"{url}/predict", files=[("file", ("a.jpg", jpeg(1), "image/jpeg"))],
                          timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert not off.exists()
