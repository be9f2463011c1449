"""Open set: a model trained on three generated classes answers "unknown" for a fourth one while still answering
its own classes; the thresholds and temperature survive export, the server honours them, `abstain=false` does
not; the fitting functions do what they say on data with a known answer."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.helpers import class_image, make_learnable_dataset
from yolocls.cli import main
from yolocls.evaluation.openset import (
    KNOWN_RECALL,
    _threshold,
    fit_policy,
    fit_temperature,
    rejected_fraction,
    risk_coverage,
)
from yolocls.inference.onnx_predictor import OnnxPredictor
from yolocls.inference.openset import calibrate, unknown_mask
from yolocls.serving.app import create_app
from yolocls.serving.settings import ServeSettings

KNOWN = ("red", "green", "blue")


@pytest.fixture(scope="module")
def openset_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run folder, a folder of 40 images of a fourth class): 3 classes x 80 images, 15 epochs at 32 px."""
    from yolocls.export import ExportOptions, export_model
    from yolocls.training.runner import TrainOptions, train

    base = tmp_path_factory.mktemp("openset")
    data = make_learnable_dataset(base, KNOWN, per_class=80)
    run_dir, record = train(TrainOptions(data=data, epochs=15, imgsz=32, batch=8, device="cpu", pretrained=False,
                                         runs_dir=base / "runs", name="rgb", quiet=True, report=False,
                                         set=["warmup_epochs=0"], aug="none"))
    assert record.status == "completed"
    assert export_model(ExportOptions(run_dir=run_dir)).parity.passed
    ood = base / "yellow"
    ood.mkdir()
    for k in range(40):
        class_image(3, 50_000 + k).save(ood / f"{k}.png")  # class 3 of the palette: yellow, never trained on
    (ood / "notes.txt").write_text("not an image")
    return run_dir, ood


def _png(image) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.integration
def test_a_fourth_class_is_mostly_rejected_while_known_classes_are_answered(openset_run, capsys):
    run_dir, ood = openset_run
    assert main(["report", str(run_dir), "--ood", str(ood)]) == 0
    out = capsys.readouterr()
    assert "skipped 1 files that are not readable images" in out.err
    report = json.loads((run_dir / "report" / "openset.json").read_text())
    point = report["operating_point"]
    # measured: 100 % of the yellow images rejected, 97.9 % of the 48 known test images answered, all correctly
    assert report["ood_images"] == 40 and report["ood_rejected"] >= 0.8
    assert report["evaluated_on"] == "test" and report["fitted_on"] == "val"
    assert point["coverage"] >= 0.9 and point["accuracy"] >= 0.95
    assert f"answers {point['coverage']:.1%} of test" in out.out and "--ood images" in out.out
    html = (run_dir / "report" / "report.html").read_text()
    assert "Open set" in html and "risk_coverage.png" in html
    curve = report["risk_coverage"]
    assert curve[-1][0] == 1.0 and all(0 <= a <= 1 for _, a in curve)


def test_thresholds_survive_export_and_the_server_honours_them(openset_run):
    run_dir, ood = openset_run
    record = json.loads((run_dir / "export.json").read_text())
    model = OnnxPredictor(run_dir / "weights" / "best.onnx")
    assert model.metadata["openset"] == record["openset"]
    assert set(record["openset"]["thresholds"]) == set(KNOWN)
    yellow = (ood / "0.png").read_bytes()
    red = _png(class_image(0, 77_777))
    with TestClient(create_app(ServeSettings(model=run_dir))) as client:
        info = client.get("/model").json()
        assert info["openset"]["temperature"] == record["openset"]["temperature"]
        files = [("file", ("yellow.png", yellow, "image/png")), ("file", ("red.png", red, "image/png"))]
        body = client.post("/predict?top_k=3", files=files).json()["predictions"]
        assert body[0]["unknown"] is True and body[0]["class"] is None and body[0]["class_id"] is None
        assert len(body[0]["top"]) == 3  # the classes are still listed
        assert body[1]["unknown"] is False and body[1]["class"] == "red"
        assert body[0]["calibrated_confidence"] < record["openset"]["thresholds"][body[0]["top"][0]["class"]]
        plain = client.post("/predict?top_k=3&abstain=false", files=files).json()["predictions"]
        assert plain[0]["unknown"] is False and plain[0]["class"] == body[0]["top"][0]["class"]
        assert [p["top"] for p in plain] == [p["top"] for p in body]  # the top-k list is the same either way
        raw = model.predict(np.stack([_preprocessed(model, yellow)]))[0]
        assert plain[0]["confidence"] == pytest.approx(float(raw.max()), abs=1e-5)  # the model's own probability
        assert body[0]["confidence"] == plain[0]["confidence"]


def _preprocessed(model: OnnxPredictor, data: bytes) -> np.ndarray:
    from yolocls.inference.preprocess import preprocess_bytes

    return preprocess_bytes(data, model.imgsz)


def test_export_without_openset_always_answers(openset_run, tmp_path):
    import shutil

    run_dir, ood = openset_run
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("report", "*.onnx", "export*.json"))
    assert main(["export", str(copy), "--no-openset"]) == 0
    with TestClient(create_app(ServeSettings(model=copy))) as client:
        assert client.get("/model").json()["openset"] is None
        pred = client.post("/predict", files={"file": ("y.png", (ood / "1.png").read_bytes(), "image/png")}).json()
        assert pred["predictions"][0]["unknown"] is False and pred["predictions"][0]["class"] in KNOWN


def test_temperature_fit_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 5))
    true_t = 2.5
    p = np.exp(logits / true_t)
    p /= p.sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(5, p=row) for row in p])  # labels drawn from softmax(z / 2.5)
    model_probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # an overconfident model (T = 1)
    assert fit_temperature(model_probs, labels) == pytest.approx(true_t, rel=0.1)


def test_thresholds_reach_the_target_precision_on_the_data_they_were_fitted_on():
    rng = np.random.default_rng(1)
    n = 3000
    labels = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), labels] += rng.uniform(0, 4, n)  # right more often when more confident
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    policy = fit_policy(probs, labels, ["a", "b", "c"], target_precision=0.9, known_recall=1.0)
    cal = calibrate(probs, policy.temperature)
    answered = ~unknown_mask(cal, policy, ["a", "b", "c"])
    pred = cal.argmax(axis=1)
    for i in range(3):
        mine = answered & (pred == i)
        assert (labels[mine] == i).mean() >= 0.9
    assert 0.2 < answered.mean() < 1.0  # some answered, some not: the target is binding here
    assert policy.fallback_classes == []


def test_small_classes_use_the_global_threshold_and_unreachable_targets_are_said():
    conf = np.array([0.9, 0.8, 0.7, 0.6])
    assert _threshold(conf, np.array([True, True, False, False]), 0.95, 1.0) == 0.8
    assert _threshold(conf, np.array([False, False, False, False]), 0.95, 1.0) is None
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]] * 10)
    labels = np.array([0, 1, 1] * 10)
    policy = fit_policy(probs, labels, ["x", "y"], min_support=25)
    assert policy.fallback_classes == ["x", "y"] and policy.thresholds["x"] == policy.global_threshold


def test_risk_coverage_ends_at_full_coverage_with_plain_accuracy():
    conf = np.array([0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, True, False, True])
    curve = risk_coverage(conf, correct, steps=4)
    assert curve == [(0.25, 1.0), (0.5, 1.0), (0.75, pytest.approx(0.6667, abs=1e-4)), (1.0, 0.75)]


def _confident(rng: np.random.Generator, n: int, classes: int, log10_gap: tuple[float, float]
               ) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities whose top class has 1 - 10**U(gap) of the mass, the rest spread evenly."""
    labels = rng.integers(0, classes, n)
    top = 1.0 - 10.0 ** rng.uniform(*log10_gap, n)
    probs = np.repeat(((1.0 - top) / (classes - 1))[:, None], classes, axis=1)
    probs[np.arange(n), labels] = top
    return probs.astype(np.float32), labels


def test_a_perfect_val_split_never_gives_a_policy_worse_than_one_plain_threshold():
    """Val all correct: the NLL keeps falling as T -> 0, which used to pin T at its bound and every threshold
    at 1.0 (an unseen class then passed). The policy must reject at least what one threshold on the plain
    confidence (same 95 %-of-known rule) rejects."""
    rng = np.random.default_rng(0)
    val_probs, val_labels = _confident(rng, 300, 3, (-5.0, -1.0))
    unseen, _ = _confident(rng, 300, 3, (-2.0, -0.6))
    policy = fit_policy(val_probs, val_labels, ["a", "b", "c"])
    assert policy.temperature == 1.0
    assert max(policy.thresholds.values()) < 1.0
    baseline = np.quantile(val_probs.max(axis=1), 1 - KNOWN_RECALL)
    baseline_rejected = float((unseen.max(axis=1) < baseline).mean())
    assert rejected_fraction(unseen, policy, ["a", "b", "c"]) >= baseline_rejected - 0.02
    assert baseline_rejected > 0.3
