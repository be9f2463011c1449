"""Serving under hostile or unlucky conditions: bombs, busy servers, fixed-batch models, a dead batcher, auth."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from onnx import TensorProto, helper
from PIL import Image

from tests.helpers import jpeg, png, start_server
from tests.odd_images import _hdr_bomb, _png_bomb
from yolocls.core.errors import ModelError
from yolocls.inference.onnx_predictor import META_KEY, OnnxPredictor, resolve_model_path
from yolocls.serving.admission import PixelBudget, ServerBusy
from yolocls.serving.app import create_app, exposure_warning
from yolocls.serving.batching import BatcherStopped, MicroBatcher
from yolocls.serving.settings import ServeSettings

# ---------- micro-batcher ----------

def test_batcher_gathers_concurrent_samples_and_answers_each_in_order():
    calls: list[int] = []

    def infer(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return batch.sum(axis=1, keepdims=True)

    async def scenario() -> list[np.ndarray]:
        batcher = MicroBatcher(infer, max_batch=8, max_wait_ms=50)
        await batcher.start()
        batcher.announce(5)  # five requests are decoding: worth waiting for
        out = await asyncio.gather(*[batcher.submit(np.full(3, i, np.float32)) for i in range(5)])
        await batcher.stop()
        return out

    out = asyncio.run(scenario())
    assert [float(o[0]) for o in out] == [0, 3, 6, 9, 12]
    assert calls == [5]


def test_batcher_does_not_wait_for_a_lone_request():
    async def scenario() -> float:
        batcher = MicroBatcher(lambda b: b, max_batch=8, max_wait_ms=2000)
        await batcher.start()
        start = time.perf_counter()
        await batcher.submit(np.zeros(2, np.float32))  # nothing announced: no reason to wait 2 s
        elapsed = time.perf_counter() - start
        await batcher.stop()
        return elapsed

    assert asyncio.run(scenario()) < 0.5


def test_batcher_withdraw_stops_waiting_for_samples_that_will_not_come():
    async def scenario() -> float:
        batcher = MicroBatcher(lambda b: b, max_batch=8, max_wait_ms=2000)
        await batcher.start()
        batcher.announce(3)
        batcher.withdraw(2)  # two of the three requests failed to decode
        start = time.perf_counter()
        await batcher.submit(np.zeros(2, np.float32))
        elapsed = time.perf_counter() - start
        await batcher.stop()
        return elapsed

    assert asyncio.run(scenario()) < 0.5


def test_batcher_fails_one_batch_on_an_exception_and_keeps_serving():
    state = {"fail": True}

    def infer(batch: np.ndarray) -> np.ndarray:
        if state["fail"]:
            state["fail"] = False
            raise RuntimeError("model exploded")
        return batch

    async def scenario() -> tuple[str, float]:
        batcher = MicroBatcher(infer, max_batch=4, max_wait_ms=1)
        await batcher.start()
        with pytest.raises(RuntimeError) as first:
            await batcher.submit(np.ones(1, np.float32))
        second = await batcher.submit(np.full(1, 7, np.float32))
        alive = batcher.alive
        await batcher.stop()
        assert alive and not batcher.alive
        return str(first.value), float(second[0])

    assert asyncio.run(scenario()) == ("model exploded", 7.0)


def test_batcher_that_stopped_refuses_new_work_instead_of_hanging():
    async def scenario() -> None:
        batcher = MicroBatcher(lambda b: b)
        await batcher.start()
        await batcher.stop()
        with pytest.raises(BatcherStopped):
            await asyncio.wait_for(batcher.submit(np.zeros(1, np.float32)), 2)

    asyncio.run(scenario())


def test_pixel_budget_refuses_after_the_queue_timeout():
    async def scenario() -> None:
        budget = PixelBudget(100)
        async with budget.hold(80, 1):
            with pytest.raises(ServerBusy) as busy:
                async with budget.hold(50, 0.05):
                    pass
            assert busy.value.status_code == 503 and busy.value.headers["Retry-After"] == "1"
        async with budget.hold(10_000, 0.05):  # larger than the budget: clamped, never starves
            assert budget.in_use == 100
        assert budget.in_use == 0

    asyncio.run(scenario())


# ---------- the app ----------

@pytest.fixture(scope="module")
def onnx_path(exported_run: Path) -> Path:
    return exported_run / "weights" / "best.onnx"


def test_busy_server_answers_503_with_retry_after(onnx_path):
    settings = ServeSettings(model=onnx_path, max_inflight_pixels=64 * 64, queue_timeout_s=0)
    with TestClient(create_app(settings)) as c:
        files = [("file", (f"{i}.png", png(Image.new("RGB", (64, 64), (i, 0, 0))), "image/png")) for i in range(8)]
        res = c.post("/predict", files=files)
        assert res.status_code == 503 and res.headers["retry-after"] == "1"
        assert "server busy" in res.json()["detail"]
        budget = c.app.state.serving.budget  # type: ignore[attr-defined]
        deadline = time.time() + 5
        while budget.in_use and time.time() < deadline:  # decodes already started finish, then give back
            time.sleep(0.01)
        assert budget.in_use == 0
        assert c.post("/predict", files=files[:1]).status_code == 200


def test_ready_turns_503_when_the_batching_task_dies(onnx_path):
    with TestClient(create_app(ServeSettings(model=onnx_path))) as c:
        assert c.get("/ready").status_code == 200
        state = c.app.state.serving  # type: ignore[attr-defined]
        c.portal.call(state.batcher.stop)  # the task ends, as it would on a crash
        assert c.get("/ready").status_code == 503
        res = c.post("/predict", files=[("file", ("a.jpg", jpeg(1), "image/jpeg"))])
        assert res.status_code == 503 and "Traceback" not in res.text


def test_api_key_also_guards_model_and_docs_but_not_probes(onnx_path):
    with TestClient(create_app(ServeSettings(model=onnx_path, api_key="k3y"))) as c:
        for path in ("/model", "/docs", "/openapi.json"):
            assert c.get(path).status_code == 401, path
            assert c.get(path, headers={"X-API-Key": "k3y"}).status_code == 200, path
        assert "/predict" in c.get("/openapi.json", headers={"X-API-Key": "k3y"}).json()["paths"]
        assert c.get("/health").status_code == 200 and c.get("/ready").status_code == 200


def test_an_empty_api_key_is_refused_not_treated_as_no_auth(onnx_path):
    with pytest.raises(ValueError, match="set but empty"):
        ServeSettings(model=onnx_path, api_key="  ")
    env = {**os.environ, "YOLOCLS_API_KEY": ""}
    out = subprocess.run([sys.executable, "-m", "yolocls", "serve", "--model", str(onnx_path)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "YOLOCLS_API_KEY" in out.stderr and "Traceback" not in out.stderr


def test_non_loopback_without_key_is_warned_about(onnx_path):
    assert exposure_warning(ServeSettings(model=onnx_path, host="127.0.0.1")) is None
    assert exposure_warning(ServeSettings(model=onnx_path, host="0.0.0.0", api_key="x")) is None
    warning = exposure_warning(ServeSettings(model=onnx_path, host="0.0.0.0"))
    assert warning is not None and "YOLOCLS_API_KEY" in warning


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read the server's memory")
def test_bombs_cost_no_memory_before_they_are_refused(onnx_path):
    proc, url = start_server(onnx_path)
    try:
        httpx.post(f"{url}/predict", files=[("file", ("warm.jpg", jpeg(5), "image/jpeg"))], timeout=30)
        before = _peak_rss_mb(proc.pid)
        hdr = httpx.post(f"{url}/predict", files=[("file", ("bomb.hdr", _hdr_bomb(), "image/vnd.radiance"))])
        assert hdr.status_code == 415 and "unsupported file type" in hdr.json()["detail"]
        big = httpx.post(f"{url}/predict", files=[("file", ("bomb.png", _png_bomb(), "image/png"))])
        assert big.status_code == 413 and "10000000000 pixels exceed the limit" in big.json()["detail"]
        grown = _peak_rss_mb(proc.pid) - before
        assert grown < 50, f"peak memory grew {grown:.0f} MB on two bombs"  # a 6500x6500 decode is 500+ MB
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# ---------- models the server must load or refuse clearly ----------

def _tiny_onnx(path: Path, batch: int | str, hw: int = 8, imgsz: int = 8) -> Path:
    """A real ONNX classifier: mean colour per channel -> softmax over 3 'classes' (fixed or dynamic batch)."""
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, hw, hw])
    y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, 3])
    axes = helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])
    nodes = [helper.make_node("ReduceMean", ["images", "axes"], ["m"], keepdims=0),
             helper.make_node("Softmax", ["m"], ["output0"], axis=1)]
    graph = helper.make_graph(nodes, "tiny", [x], [y], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps({"classes": ["r", "g", "b"], "imgsz": imgsz})
    onnx.save(model, str(path))
    return path


def _reference(batch: np.ndarray) -> np.ndarray:
    m = batch.mean(axis=(2, 3))
    e = np.exp(m - m.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("n", [1, 3, 4, 9])
def test_a_fixed_batch_model_answers_any_number_of_images(tmp_path, n):
    model = OnnxPredictor(_tiny_onnx(tmp_path / "fixed4.onnx", batch=4))
    assert model.fixed_batch == 4
    batch = np.random.default_rng(n).random((n, 3, 8, 8), dtype=np.float32)
    np.testing.assert_allclose(model.predict(batch), _reference(batch), atol=1e-6)


def test_a_fixed_batch_model_is_served(tmp_path):
    path = _tiny_onnx(tmp_path / "fixed2.onnx", batch=2)
    with TestClient(create_app(ServeSettings(model=path))) as c:
        files = [("file", (f"{i}.jpg", jpeg(i), "image/jpeg")) for i in range(3)]
        res = c.post("/predict", files=files)
        assert res.status_code == 200 and len(res.json()["predictions"]) == 3


def test_a_model_whose_input_size_contradicts_its_metadata_is_refused_at_load(tmp_path):
    with pytest.raises(ModelError, match="does not match imgsz 16"):
        OnnxPredictor(_tiny_onnx(tmp_path / "bad.onnx", batch="N", hw=8, imgsz=16))


@pytest.mark.parametrize("record", ["{}", "not json", '{"path": "../../etc/passwd"}', '{"path": 3}'])
def test_a_damaged_export_record_gives_one_clear_error(tmp_path, record):
    (tmp_path / "export.json").write_text(record)
    with pytest.raises(ModelError, match="export.json"):
        resolve_model_path(tmp_path)


def test_a_task_cancelled_while_giving_back_its_pixels_still_gives_them_back():
    """The leak the busy-server test caught once in eight runs: cancelled while the budget's lock was busy."""

    async def scenario() -> int:
        budget = PixelBudget(10)
        release = asyncio.Event()

        async def holder() -> None:
            async with budget.hold(5, 1):
                await release.wait()

        task = asyncio.create_task(holder())
        await asyncio.sleep(0)
        assert budget.in_use == 5
        async with budget._changed:  # someone else holds the lock as the holder finishes
            release.set()
            await asyncio.sleep(0.01)  # the holder is now giving back, waiting for the lock
            task.cancel()
            await asyncio.sleep(0.01)
        await asyncio.gather(task, return_exceptions=True)
        return budget.in_use

    assert asyncio.run(scenario()) == 0
