"""`yolocls report` / `yolocls runs` on a real tiny run: agrees with Ultralytics and with scikit-learn."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yolocls.cli import main


@pytest.fixture(scope="module")
def report_dir(trained_run: Path) -> Path:
    assert main(["report", str(trained_run)]) == 0
    return trained_run / "report"


def test_report_writes_every_file(report_dir):
    for name in ("metrics.json", "per_class.csv", "predictions.csv", "confusion_matrix.csv", "report.html",
                 "confusion_matrix.png", "confusion_matrix_normalized.png", "training_curves.png"):
        assert (report_dir / name).is_file(), name
    m = json.loads((report_dir / "metrics.json").read_text())
    assert m["split"] == "test"  # the dataset has a test split, so it is the default
    for key in ("top1", "top5", "macro", "weighted", "avg_confidence", "avg_confidence_correct", "ece",
                "roc_auc_ovr", "log_loss", "per_class"):
        assert key in m
    assert list(pd.read_csv(report_dir / "per_class.csv").columns) == [
        "class", "precision", "recall", "f1", "support", "avg_confidence"]
    preds = pd.read_csv(report_dir / "predictions.csv")
    assert list(preds.columns[:5]) == ["path", "true", "predicted", "confidence", "correct"]
    html = (report_dir / "report.html").read_text()
    assert "data:image/png;base64," in html and "small-fast" in html


def test_report_top1_matches_ultralytics_validation(trained_run, report_dir):
    from ultralytics import YOLO

    m = json.loads((report_dir / "metrics.json").read_text())
    record = json.loads((trained_run / "run.json").read_text())
    val = YOLO(str(trained_run / "weights" / "best.pt")).val(data=record["dataset"], split="test", imgsz=32,
                                                             batch=16, device="cpu", plots=False, verbose=False)
    assert abs(m["top1"] - float(val.top1)) <= 1 / m["images"] + 1e-9


def test_report_per_class_and_matrix_match_independent_computation(trained_run, report_dir):
    """Predictions from Ultralytics' own predictor (its decoding and transforms), counted by hand: no shared
    code or scikit-learn call with the report."""
    from ultralytics import YOLO

    per_class = pd.read_csv(report_dir / "per_class.csv").set_index("class")
    classes = list(per_class.index)
    dataset = Path(json.loads((trained_run / "run.json").read_text())["dataset"])
    paths = sorted((dataset / "test").rglob("*.png"))
    results = YOLO(str(trained_run / "weights" / "best.pt")).predict([str(p) for p in paths], imgsz=32,
                                                                   device="cpu", verbose=False)
    true = [p.parent.name for p in paths]
    pred = [r.names[int(r.probs.top1)] for r in results]
    matrix = pd.read_csv(report_dir / "confusion_matrix.csv", index_col=0)  # rows = true, columns = predicted
    for c in classes:
        tp = sum(t == c and q == c for t, q in zip(true, pred))
        fp = sum(t != c and q == c for t, q in zip(true, pred))
        fn = sum(t == c and q != c for t, q in zip(true, pred))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        assert per_class.loc[c, "precision"] == pytest.approx(precision, abs=1e-9), c
        assert per_class.loc[c, "recall"] == pytest.approx(recall, abs=1e-9), c
        assert per_class.loc[c, "f1"] == pytest.approx(f1, abs=1e-9), c
        assert per_class.loc[c, "support"] == tp + fn
        for q in classes:
            assert matrix.loc[c, q] == sum(t == c and p_ == q for t, p_ in zip(true, pred)), (c, q)
    m = json.loads((report_dir / "metrics.json").read_text())
    assert m["top1"] == pytest.approx(np.mean([t == q for t, q in zip(true, pred)]))
    confidence = [float(r.probs.top1conf) for r in results]
    assert m["avg_confidence"] == pytest.approx(np.mean(confidence), abs=1e-5)


def test_report_val_split_and_last_weights(trained_run):
    assert main(["report", str(trained_run), "--split", "val", "--weights", "last"]) == 0
    m = json.loads((trained_run / "report" / "metrics.json").read_text())
    assert m["split"] == "val" and m["weights"] == "last.pt"


def test_report_on_plain_ultralytics_run_with_data_flag(trained_run, tmp_path, capsys):
    plain = tmp_path / "plain"
    (plain / "weights").mkdir(parents=True)
    shutil.copy(trained_run / "weights" / "best.pt", plain / "weights" / "best.pt")
    assert main(["report", str(plain)]) == 2
    assert "pass --data" in capsys.readouterr().err
    dataset = json.loads((trained_run / "run.json").read_text())["dataset"]
    assert main(["report", str(plain), "--data", dataset]) == 0
    assert (plain / "report" / "metrics.json").is_file()


def test_report_errors(trained_run, tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "run folder not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no weights" in capsys.readouterr().err
    moved = tmp_path / "moved"
    shutil.copytree(trained_run, moved, ignore=shutil.ignore_patterns("report"))
    record = json.loads((moved / "run.json").read_text())
    record["dataset"] = str(tmp_path / "gone")
    (moved / "run.json").write_text(json.dumps(record))
    assert main(["report", str(moved)]) == 2
    err = capsys.readouterr().err
    assert f"dataset not found at {tmp_path / 'gone'}" in err and "--data" in err
    record["dataset"] = json.loads((trained_run / "run.json").read_text())["dataset"]
    (moved / "run.json").write_text(json.dumps(record))
    data = Path(record["dataset"])
    two_split = tmp_path / "twosplit"
    shutil.copytree(data, two_split, ignore=shutil.ignore_patterns("test"))
    assert main(["report", str(moved), "--data", str(two_split), "--split", "test"]) == 2
    assert "no test/ split; available: train, val" in capsys.readouterr().err


def test_runs_leaderboard(trained_run, report_dir, capsys):
    assert main(["runs", "--runs-dir", str(trained_run.parent), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    row = next(r for r in rows if r["run"] == trained_run.name)
    assert row["status"] == "completed" and row["preset"] == "small-fast" and row["top1"] is not None
    assert main(["runs", "--runs-dir", str(trained_run.parent)]) == 0
    assert trained_run.name in capsys.readouterr().out
