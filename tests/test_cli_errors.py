"""Every mistake a user can make gets one clear line and exit 2; a bug gets one line, exit 1 and a saved traceback."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import make_learnable_dataset
from yolocls.cli import main


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("split", ["0.5,nan,0.5", "inf,0.1", "0.8,-0.1,0.3", "a,b"])
def test_prepare_bad_split_is_one_line(make_class_folders, tmp_path, capsys, split):
    src = make_class_folders()
    assert main(["prepare", str(src), "--out", str(tmp_path / "o"), "--split", split]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"--split '{split}'" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("pair, expected", [
    ("imgsz=abc", "imgsz"),
    ("epochs=[3]", "epochs"),
    ("lr0=5", "lr0"),
    ("imgsz=8", "imgsz"),
    ("cos_lr=maybe", "cos_lr"),
])
def test_train_bad_set_values_are_one_line_before_any_run_exists(learnable_dataset, tmp_path, capsys, pair,
                                                                 expected):
    runs = tmp_path / "runs"
    assert main(["train", "--data", str(learnable_dataset), "--runs-dir", str(runs), "--set", pair]) == 2
    line = one_line(capsys.readouterr().err)
    assert "--set" in line and expected in line
    assert not runs.exists() or not list(runs.iterdir())  # nothing half-created


def test_export_record_without_path_is_one_line_for_serve_and_predict(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "export.json").write_text(json.dumps({"format": "onnx"}))
    assert main(["predict", "x.jpg", "--model", str(run)]) == 2
    assert "export.json: no valid 'path'" in one_line(capsys.readouterr().err)
    out = subprocess.run([sys.executable, "-m", "yolocls", "serve", "--model", str(run)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "export.json" in one_line(out.stderr)


@pytest.mark.integration
def test_corrupt_run_json_is_one_line_for_report(trained_run, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken, ignore=shutil.ignore_patterns("report"))
    (broken / "run.json").write_text('{"name": "broken", "status": ')
    assert main(["report", str(broken)]) == 2
    assert "run.json: unreadable run record" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("flags, message", [
    (["--ood", "/nonexistent-ood"], "--ood /nonexistent-ood: not a folder of images"),
    (["--target-precision", "1.5"], "1.5 is not in (0, 1]"),
    (["--known-recall", "abc"], "'abc' is not a number"),
])
def test_bad_open_set_flags_are_one_line(trained_run, capsys, flags, message):
    try:
        code = main(["report", str(trained_run), *flags])
    except SystemExit as exc:  # argparse refuses bad values itself
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_leaderboard_skips_damaged_runs_with_a_warning_and_lists_the_rest(trained_run, tmp_path, capsys):
    runs = tmp_path / "runs"
    for name in ("good", "bad-record", "bad-metrics"):
        shutil.copytree(trained_run, runs / name, ignore=shutil.ignore_patterns("report"))
    (runs / "bad-record" / "run.json").write_text("not json at all")
    (runs / "bad-metrics" / "report").mkdir()
    (runs / "bad-metrics" / "report" / "metrics.json").write_text('{"top1": "high"}')
    assert main(["runs", "--runs-dir", str(runs), "--json"]) == 0
    captured = capsys.readouterr()
    assert [row["run"] for row in json.loads(captured.out)] == ["good"]
    warnings = captured.err.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("yolocls runs: warning: skipped run bad-") for w in warnings)
    assert any("bad-record/run.json" in w for w in warnings) and any("metrics.json" in w for w in warnings)


def _failing_command(sub) -> None:  # registered like any command: a real bug inside a real command
    p = sub.add_parser("explode", help="(test) a command with a bug")
    p.set_defaults(func=lambda args: {}["missing"])


@pytest.fixture
def explode_command():
    cli_main = importlib.import_module("yolocls.cli.main")  # the module (the package exports the function)
    cli_main._EXTRA_COMMANDS.append(_failing_command)
    yield
    cli_main._EXTRA_COMMANDS.remove(_failing_command)


def test_an_unexpected_error_is_one_line_with_the_traceback_saved(explode_command, capsys):
    assert main(["explode"]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("yolocls explode: unexpected error: KeyError: 'missing'") and "--debug" in line
    saved = Path(line.split("full traceback in ")[1].split(",")[0])
    assert "Traceback" in saved.read_text() and "KeyError" in saved.read_text()
    saved.unlink()


def test_debug_shows_the_traceback(explode_command, capsys):
    assert main(["--debug", "explode"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def _auc_by_counting(p_pos: np.ndarray, y: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative), ties counting 1/2 (Mann-Whitney)."""
    pos, neg = p_pos[y == 1], p_pos[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


@pytest.mark.integration
def test_two_class_report_has_a_roc_auc(tmp_path):
    """scikit-learn needs the positive-class column for two classes; the AUC is checked against a count over
    probabilities from Ultralytics' own predictor (a separate decode/preprocess/inference path)."""
    from ultralytics import YOLO

    from yolocls.training.runner import TrainOptions, train

    data = make_learnable_dataset(tmp_path, classes=("red", "green"), per_class=30)
    run_dir, record = train(TrainOptions(data=data, epochs=8, imgsz=32, batch=8, device="cpu", pretrained=False,
                                         runs_dir=tmp_path / "runs", name="two", quiet=True, report=False,
                                         set=["warmup_epochs=0"], aug="none"))
    assert record.status == "completed"
    assert main(["report", str(run_dir)]) == 0
    metrics = json.loads((run_dir / "report" / "metrics.json").read_text())
    assert metrics["roc_auc_ovr"] is not None
    paths = sorted((data / "test").rglob("*.png"))
    results = YOLO(str(run_dir / "weights" / "best.pt")).predict([str(p) for p in paths], imgsz=32, device="cpu",
                                                               verbose=False)
    p_second = np.array([float(r.probs.data[1]) for r in results])
    y = np.array([int(p.parent.name == record.classes[1]) for p in paths])
    assert metrics["roc_auc_ovr"] == pytest.approx(_auc_by_counting(p_second, y), abs=1e-6)


def test_studio_refuses_a_public_address_without_a_key(tmp_path, capsys):
    assert main(["studio", "--host", "0.0.0.0", "--home", str(tmp_path)]) == 2
    line = one_line(capsys.readouterr().err)
    assert "YOLOCLS_API_KEY" in line and "--insecure" in line
