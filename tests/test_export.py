"""`yolocls export` and `yolocls predict`: parity, metadata in the model file, the shared preprocessing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from PIL import Image

from yolocls.cli import main
from yolocls.core.fs import file_sha256
from yolocls.inference.onnx_predictor import OnnxPredictor
from yolocls.inference.openset import calibrate, policy_of
from yolocls.inference.preprocess import preprocess


@pytest.mark.parametrize("h, w, size", [(480, 640, 320), (37, 53, 32), (640, 480, 224), (20, 30, 32),
                                        (333, 517, 96)])
def test_preprocess_reproduces_ultralytics_classify_transforms(h, w, size):
    from ultralytics.data.augment import classify_transforms

    bgr = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    expected = classify_transforms(size)(Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))).numpy()
    np.testing.assert_array_equal(preprocess(bgr, size), expected)


def test_export_record_parity_and_metadata(exported_run):
    record = json.loads((exported_run / "export.json").read_text())
    onnx_path = exported_run / record["path"]
    assert record["format"] == "onnx" and onnx_path == exported_run / "weights" / "best.onnx"
    assert record["sha256"] == file_sha256(onnx_path)
    assert record["classes"] == ["blue", "green", "red"] and record["imgsz"] == 32
    assert record["parity"]["passed"] and record["parity"]["top1_agreement"] >= 0.995
    assert record["parity"]["max_prob_diff"] <= 1e-3 and record["parity"]["split"] == "val"
    assert "shorter side" in record["preprocessing"]["resize"]
    model = onnx.load(str(onnx_path))
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["yolocls"])["classes"] == record["classes"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert not dims[0].HasField("dim_value")  # dynamic batch axis
    clf = OnnxPredictor(onnx_path)
    batch = np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32)
    probs = clf.predict(batch)
    assert probs.shape == (3, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)  # softmax already applied


def test_export_errors(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope")]) == 2
    assert "run folder not found" in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    assert main(["export", str(tmp_path / "run")]) == 2
    assert "no weights to export" in capsys.readouterr().err


def _cli_predict(images: list[Path], model: Path, *flags: str) -> dict:
    res = subprocess.run([sys.executable, "-m", "yolocls", "predict", *map(str, images), "--model",
                          str(model), "--json", "--top-k", "2", *flags], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_predict_cli_json_matches_runtime(exported_run):
    """The model's own probabilities either way; by default also the calibrated top-1 confidence, and `unknown`
    (class null) below the class's threshold; --no-abstain always answers the class."""
    dataset = Path(json.loads((exported_run / "run.json").read_text())["dataset"])
    images = sorted((dataset / "test").rglob("*.png"))[:3]
    clf = OnnxPredictor(exported_run / "weights" / "best.onnx")
    policy = policy_of(clf.metadata)
    assert policy is not None and policy.temperature != 1.0
    plain, default = _cli_predict(images, exported_run, "--no-abstain"), _cli_predict(images, exported_run)
    assert [p["filename"] for p in plain["predictions"]] == [str(p) for p in images]
    for raw, cal, path in zip(plain["predictions"], default["predictions"], images):
        probs = clf.predict(preprocess(cv2.imread(str(path)), clf.imgsz)[None])[0]
        assert raw["class_id"] == int(probs.argmax()) and raw["class"] == clf.classes[raw["class_id"]]
        assert raw["confidence"] == pytest.approx(float(probs.max()), abs=1e-6) and raw["unknown"] is False
        assert len(raw["top"]) == 2 and raw["top"][0]["class"] == raw["class"]
        calibrated = calibrate(probs[None], policy.temperature)[0]
        assert cal["calibrated_confidence"] == pytest.approx(float(calibrated.max()), abs=1e-6)
        assert "calibrated_confidence" not in raw
        below = calibrated.max() < policy.thresholds[raw["class"]]
        assert cal["unknown"] is bool(below) and cal["class"] == (None if below else raw["class"])
        assert cal["top"] == raw["top"] and cal["confidence"] == raw["confidence"]  # top-k unchanged
    assert plain["model"]["sha256"] == clf.sha256


def test_predict_cli_refuses_pt_files(exported_run, capsys):
    assert main(["predict", "x.png", "--model", str(exported_run / "weights" / "best.pt")]) == 2
    assert "not served (they are pickles)" in capsys.readouterr().err


def test_export_torchscript_with_parity_and_serving_still_finds_onnx(exported_run, tmp_path):
    import shutil

    from yolocls.inference.onnx_predictor import resolve_model_path

    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    assert main(["export", str(run), "--format", "torchscript"]) == 0
    record = json.loads((run / "export.json").read_text())
    assert record["format"] == "torchscript" and (run / record["path"]).is_file()
    assert record["parity"]["passed"] and record["parity"]["max_prob_diff"] <= 1e-3
    assert resolve_model_path(run) == run / "weights" / "best.onnx"


def test_failed_parity_publishes_nothing(exported_run, tmp_path, monkeypatch, capsys):
    import shutil

    import yolocls.export

    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    before = {p: p.read_bytes() for p in (run / "weights" / "best.onnx", run / "export.json")}
    monkeypatch.setattr(yolocls.export, "MAX_PROB_DIFF", -1.0)  # a threshold no model can meet
    assert main(["export", str(run)]) == 2
    assert "parity check FAILED" in capsys.readouterr().err
    assert all(p.read_bytes() == data for p, data in before.items())  # the good export is untouched
    failed = json.loads((run / "export-failed.json").read_text())
    assert failed["parity"]["passed"] is False and failed["parity"]["top1_agreement"] >= 0.995
    assert not list((run / "weights").glob(".export*"))


def test_check_parity_thresholds():
    from yolocls.export import check_parity

    ref = np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32)
    assert check_parity(ref, ref + 1e-5, "val").passed
    assert not check_parity(ref, ref[:, ::-1], "val").passed  # every top-1 flipped
    assert not check_parity(ref, ref + np.float32(0.01), "val").passed  # probabilities drift
