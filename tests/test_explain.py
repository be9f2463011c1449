"""Heatmaps: the exported class activation maps equal a torch reference, agree with the probabilities, and are
served over the original image; the default /predict answer is unchanged."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.helpers import jpeg
from yolocls.cli import main
from yolocls.inference.onnx_predictor import OnnxPredictor
from yolocls.inference.preprocess import preprocess
from yolocls.serving.app import create_app
from yolocls.serving.settings import ServeSettings


@pytest.fixture(scope="module")
def run_224(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run exported at 224 px (a 7x7 activation map, the smallest shipped as heatmaps)."""
    from yolocls.export import ExportOptions, export_model

    copy = tmp_path_factory.mktemp("explain") / "run224"
    shutil.copytree(trained_run, copy, ignore=shutil.ignore_patterns("report", "*.onnx", "export*.json"))
    assert export_model(ExportOptions(run_dir=copy, imgsz=224)).parity.passed
    return copy


@pytest.fixture(scope="module")
def onnx_model(run_224: Path) -> OnnxPredictor:
    return OnnxPredictor(run_224 / "weights" / "best.onnx")


@pytest.fixture(scope="module")
def batch(onnx_model) -> np.ndarray:
    images = [cv2.imdecode(np.frombuffer(jpeg(k, (40 + 7 * k, 36)), np.uint8), cv2.IMREAD_COLOR) for k in range(6)]
    return np.stack([preprocess(im, onnx_model.imgsz) for im in images])


def test_the_exported_model_has_a_cam_output_that_explains_its_probabilities(onnx_model, batch):
    assert onnx_model.cam_output == "cam"
    probs, cams = onnx_model.predict_cam(batch)
    assert cams.shape[:2] == (len(batch), len(onnx_model.classes)) and cams.ndim == 4
    logits = cams.mean(axis=(2, 3))  # pooling and the linear layer commute
    softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, probs, atol=1e-5)
    np.testing.assert_allclose(onnx_model.predict(batch), probs, atol=1e-6)  # the default output is unchanged


def test_cam_from_onnx_equals_the_torch_reference(run_224, onnx_model, batch):
    import torch
    from ultralytics import YOLO

    net = YOLO(str(run_224 / "weights" / "best.pt")).model.float().eval()
    head = net.model[-1]
    features: list[torch.Tensor] = []
    handle = head.conv.register_forward_hook(lambda module, inputs, output: features.append(output))
    with torch.inference_mode():
        net(torch.from_numpy(batch))
    handle.remove()
    weight, bias = head.linear.weight, head.linear.bias
    reference = (torch.einsum("ck,nkhw->nchw", weight, features[0]) + bias[None, :, None, None]).numpy()
    _, cams = onnx_model.predict_cam(batch)
    np.testing.assert_allclose(cams, reference, atol=1e-4)


def test_predict_explain_returns_a_heatmap_at_image_size_and_default_output_is_unchanged(run_224):
    with TestClient(create_app(ServeSettings(model=run_224))) as client:
        photo = jpeg(3, (97, 61))
        plain = client.post("/predict", files={"file": ("p.jpg", photo, "image/jpeg")}).json()
        assert "heatmap" not in plain["predictions"][0]
        explained = client.post("/predict?explain=true", files=[("file", ("p.jpg", photo, "image/jpeg")),
                                                                 ("file", ("q.jpg", jpeg(4, (30, 80)), "image/jpeg"))])
        assert explained.status_code == 200, explained.text
        first, second = explained.json()["predictions"]
        assert first["class"] == plain["predictions"][0]["class"]
        assert first["confidence"] == pytest.approx(plain["predictions"][0]["confidence"], abs=1e-5)
        for prediction, size in ((first, (97, 61)), (second, (30, 80))):
            png = Image.open(io.BytesIO(base64.b64decode(prediction["heatmap"])))
            assert png.format == "PNG" and png.size == size


def test_cli_predict_explain_writes_overlays(run_224, tmp_path, capsys):
    image = tmp_path / "shoe.jpg"
    image.write_bytes(jpeg(9, (120, 90)))
    assert main(["predict", str(image), "--model", str(run_224), "--explain", str(tmp_path / "heat"),
                 "--json"]) == 0
    out = capsys.readouterr().out
    body = json.loads(out[:out.rindex("}") + 1])
    assert "heatmap" not in body["predictions"][0]
    written = tmp_path / "heat" / "shoe.heatmap.png"
    with Image.open(written) as im:
        assert im.size == (120, 90)


def test_maps_too_coarse_to_be_faithful_are_refused_not_decorated(exported_run, tmp_path, capsys):
    """The 32 px model has a 1x1 map: a heatmap of it would be a flat colour, so explain says why instead."""
    with TestClient(create_app(ServeSettings(model=exported_run))) as client:
        res = client.post("/predict?explain=true", files={"file": ("p.jpg", jpeg(1), "image/jpeg")})
        assert res.status_code == 422 and "only 1x1 cells (imgsz 32)" in res.json()["detail"]
        assert client.post("/predict", files={"file": ("p.jpg", jpeg(1), "image/jpeg")}).status_code == 200
    image = tmp_path / "a.jpg"
    image.write_bytes(jpeg(2))
    assert main(["predict", str(image), "--model", str(exported_run), "--explain", str(tmp_path / "h")]) == 2
    assert "imgsz >= 224" in capsys.readouterr().err


def test_the_report_mistakes_gallery_shows_the_predicted_and_the_true_class_evidence(run_224, tmp_path):
    """At 224 px each mistake gets three panels: the image, the predicted class's map, the true class's map;
    the two maps are those of different classes (not one map drawn twice)."""
    from yolocls.evaluation.mistakes import _explained, draw_mistakes
    from yolocls.evaluation.torch_predictor import TorchPredictor

    model = TorchPredictor(run_224 / "weights" / "best.pt", "cpu")
    model.imgsz = 224  # evaluate at the exported size (the network is fully convolutional up to the pooling)
    image = tmp_path / "x.jpg"
    image.write_bytes(jpeg(5, (90, 70)))
    bgr = cv2.imread(str(image))
    probs, cams = model.predict_cam(preprocess(bgr, 224)[None])
    wrong = (int(probs[0].argmax()) + 1) % len(model.classes)
    panels, titles = _explained(model, bgr, wrong, model.classes)
    assert [p.shape for p in panels] == [(70, 90, 3)] * 3
    assert f"evidence for {model.classes[wrong]}" in titles[2] and "(predicted)" in titles[1]
    assert not np.array_equal(panels[1], panels[2])
    assert draw_mistakes(model, [image], [wrong], model.classes, tmp_path / "mistakes.png")
    with Image.open(tmp_path / "mistakes.png") as im:
        assert im.width > im.height  # one row of three panels
