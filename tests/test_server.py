"""The HTTP service with a real exported model: endpoints, bad inputs, API key, limits, concurrency."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.helpers import class_image, closed_by_server, hold_idle_connections, jpeg, png, start_server
from yolocls.inference.onnx_predictor import OnnxPredictor
from yolocls.inference.preprocess import preprocess
from yolocls.serving.app import create_app
from yolocls.serving.settings import ServeSettings


def expected_for(model: OnnxPredictor, data: bytes) -> tuple[int, float]:
    probs = model.predict(preprocess(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                                     model.imgsz)[None])[0]
    return int(probs.argmax()), float(probs.max())


@pytest.fixture(scope="module")
def onnx_path(exported_run: Path) -> Path:
    return exported_run / "weights" / "best.onnx"


@pytest.fixture
def client(onnx_path):
    settings = ServeSettings(model=onnx_path, max_body_bytes=200_000, max_pixels=1_000_000, max_files=4)
    with TestClient(create_app(settings)) as c:
        yield c


def test_health_ready_model_docs(client, onnx_path):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}
    info = client.get("/model").json()
    assert info["classes"] == ["blue", "green", "red"] and info["imgsz"] == 32 and info["format"] == "onnx"
    assert info["sha256"] == OnnxPredictor(onnx_path).sha256 and info["source_run"] == "tiny"
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    props = schema["components"]["schemas"]["Prediction"]["properties"]
    assert {"filename", "class", "class_id", "confidence", "top"} <= set(props)


def test_predict_several_files_in_order_with_top_k(client, onnx_path):
    model = OnnxPredictor(onnx_path)
    files = [png(class_image(i, 500 + i)) for i in range(3)]
    parts = [("file", (f"img{i}.png", d, "image/png")) for i, d in enumerate(files)]
    res = client.post("/predict?top_k=2&abstain=false", files=parts)  # the model's own answer
    assert res.status_code == 200, res.text
    body = res.json()
    assert [p["filename"] for p in body["predictions"]] == ["img0.png", "img1.png", "img2.png"]
    for pred, data in zip(body["predictions"], files):
        cid, conf = expected_for(model, data)
        assert pred["class_id"] == cid and pred["class"] == model.classes[cid]
        assert pred["confidence"] == pytest.approx(conf, abs=1e-6)
        assert len(pred["top"]) == 2 and pred["top"][0]["confidence"] >= pred["top"][1]["confidence"]
    assert body["model"]["sha256"] == model.sha256 and body["time_ms"] > 0


@pytest.mark.parametrize("name, payload, status, detail", [
    ("notes.txt", b"hello, not an image", 415, "notes.txt: unsupported file type"),
    ("empty.jpg", b"", 422, "empty.jpg: empty file"),
    ("cut.jpg", jpeg(1, (200, 200))[:150], 415, "cut.jpg: unsupported file type"),
    ("cut.png", png(Image.new("RGB", (64, 64), (9, 9, 9)))[:-30], 415, "cut.png: corrupt or truncated image"),
    ("huge.png", png(Image.new("RGB", (1200, 1000))), 413, "huge.png: 1200x1000 exceeds the limit of 1000000"),
])
def test_predict_bad_files_get_clear_status_and_detail(client, name, payload, status, detail):
    res = client.post("/predict", files=[("file", (name, payload, "application/octet-stream"))])
    assert res.status_code == status
    assert detail in res.json()["detail"]
    assert "Traceback" not in res.text
    assert client.post("/predict", files=[("file", ("ok.jpg", jpeg(2), "image/jpeg"))]).status_code == 200


def test_predict_limits_and_missing_part(client):
    big = client.post("/predict", files=[("file", ("big.jpg", os.urandom(300_000), "image/jpeg"))])
    assert big.status_code == 413 and "request body exceeds 200000 bytes" in big.json()["detail"]
    many = client.post("/predict", files=[("file", (f"{i}.jpg", jpeg(i), "image/jpeg")) for i in range(5)])
    assert many.status_code == 413 and "the limit is 4" in many.json()["detail"]
    missing = client.post("/predict", files=[("image", ("a.jpg", jpeg(3), "image/jpeg"))])
    assert missing.status_code == 422
    assert client.post("/predict?top_k=0", files=[("file", ("a.jpg", jpeg(3), "image/jpeg"))]).status_code == 422
    metrics = client.get("/metrics").text
    assert 'yolocls_requests_total{path="/predict",status="413"} 2.0' in metrics
    assert "yolocls_batch_size_bucket" in metrics and "yolocls_request_duration_seconds_bucket" in metrics


def test_api_key_required_when_configured(onnx_path):
    settings = ServeSettings(model=onnx_path, api_key="s3cret")
    with TestClient(create_app(settings)) as c:
        files = [("file", ("a.jpg", jpeg(4), "image/jpeg"))]
        assert c.post("/predict", files=files).status_code == 401
        assert c.post("/predict", files=files, headers={"X-API-Key": "wrong"}).json()["detail"] == \
            "missing or invalid X-API-Key header"
        assert c.post("/predict", files=files, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/health").status_code == 200


def test_serving_imports_neither_torch_nor_ultralytics(onnx_path):
    code = ("import sys, yolocls.serving.app, yolocls.cli\n"
            "from yolocls.inference.onnx_predictor import OnnxPredictor\n"
            f"OnnxPredictor(__import__('pathlib').Path({str(onnx_path)!r}))\n"
            "bad = [m for m in ('torch', 'ultralytics', 'sklearn', 'pandas') if m in sys.modules]\n"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"






@pytest.fixture(scope="module")
def live_server(onnx_path):
    proc, url = start_server(onnx_path.parent.parent)  # a run folder: its exported model is served
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.mark.integration
def test_serve_with_two_worker_processes(onnx_path):
    proc, url = start_server(onnx_path, "--workers", "2")
    try:
        model = OnnxPredictor(onnx_path)
        for i in range(8):
            data = jpeg(900 + i)
            res = httpx.post(f"{url}/predict?abstain=false", files=[("file", (f"{i}.jpg", data, "image/jpeg"))],
                             timeout=30)
            assert res.status_code == 200 and res.json()["predictions"][0]["class_id"] == expected_for(model, data)[0]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_many_concurrent_requests_are_all_answered_correctly_and_batched(live_server, onnx_path):
    model = OnnxPredictor(onnx_path)
    images = [jpeg(100 + i, (96 + i, 64)) for i in range(48)]
    expected = [expected_for(model, d) for d in images]

    async def one(client: httpx.AsyncClient, i: int) -> dict:
        files = [("file", (f"{i}.jpg", images[i], "image/jpeg"))]
        if i % 6 == 0:  # a bad upload in the mix must not disturb the others
            bad = await client.post(f"{live_server}/predict", files=[("file", ("bad.jpg", b"xx", "image/jpeg"))])
            assert bad.status_code == 415
        res = await client.post(f"{live_server}/predict?abstain=false", files=files)
        assert res.status_code == 200, res.text
        return res.json()

    async def all_of_them() -> list[dict]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*[one(client, i) for i in range(len(images))])

    bodies = asyncio.run(all_of_them())
    for i, body in enumerate(bodies):
        pred = body["predictions"][0]
        assert pred["filename"] == f"{i}.jpg"
        assert pred["class_id"] == expected[i][0]
        assert pred["confidence"] == pytest.approx(expected[i][1], abs=1e-5)
    metrics = httpx.get(f"{live_server}/metrics").text
    values = {ln.split()[0]: float(ln.split()[-1]) for ln in metrics.splitlines() if ln.startswith("yolocls_batch")}
    count, total = values["yolocls_batch_size_count"], values["yolocls_batch_size_sum"]
    assert total == 48 and count < 48  # some model calls served several requests
    assert httpx.get(f"{live_server}/health").json() == {"status": "ok"}


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims huge dimensions (a decompression bomb) with almost no data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize("name, payload", [
    ("bomb.png", _png_header_only(100_000, 100_000)),
    ("wide.png", _png_header_only(2_000, 1_000)),
])
def test_decompression_bombs_get_413_not_500(client, name, payload):
    res = client.post("/predict", files=[("file", (name, payload, "image/png"))])
    assert res.status_code == 413 and name in res.json()["detail"]


@pytest.mark.parametrize("fmt, mode", [("GIF", "P"), ("WEBP", "RGBA"), ("PNG", "I;16"), ("PNG", "LA"), ("BMP", "L"),
                                       ("TIFF", "RGB"), ("JPEG", "CMYK")])
def test_odd_but_valid_formats_are_classified(client, fmt, mode):
    buf = io.BytesIO()
    Image.new("RGB", (50, 40), (200, 10, 10)).convert(mode).save(buf, fmt)
    res = client.post("/predict", files=[("file", (f"x.{fmt.lower()}", buf.getvalue(), "image/*"))])
    assert res.status_code == 200, res.text
    assert res.json()["predictions"][0]["filename"] == f"x.{fmt.lower()}"


def test_serve_cli_errors_are_one_line(onnx_path, tmp_path, monkeypatch, capsys):
    from yolocls.cli import main

    monkeypatch.delenv("YOLOCLS_MODEL", raising=False)
    assert main(["serve"]) == 2
    assert "--model PATH (or YOLOCLS_MODEL) is required" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path / "missing.onnx")]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path)]) == 2
    assert "no exported ONNX model; run `yolocls export" in capsys.readouterr().err
    monkeypatch.setenv("YOLOCLS_PORT", "abc")
    assert main(["serve", "--model", str(onnx_path)]) == 2
    assert "YOLOCLS_PORT 'abc': Input should be a valid integer" in capsys.readouterr().err






@pytest.mark.integration
def test_idle_and_half_sent_connections_are_closed_and_the_server_keeps_answering(onnx_path):
    proc, url = start_server(onnx_path.parent.parent, env_extra={"YOLOCLS_HEADER_TIMEOUT_S": "2"})
    try:
        socks = hold_idle_connections(url, 600)
        t0 = time.monotonic()
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200  # answered while they are open
        assert time.monotonic() - t0 < 2
        time.sleep(3)
        closed = sum(closed_by_server(s) for s in socks)
        assert closed == len(socks), f"{len(socks) - closed} idle connections still open after the deadline"
        for s in socks:
            s.close()
        # a normal keep-alive client is not affected by the deadline
        with httpx.Client(timeout=5) as client:
            assert all(client.get(f"{url}/health").status_code == 200 for _ in range(3))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
