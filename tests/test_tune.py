"""`yolocls tune`: search spaces are data and checked in one line each; a sweep on a real local Ray leaves every
trial as a normal run and the best as a presets file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import make_learnable_dataset
from yolocls.core.errors import ConfigError
from yolocls.training.space import load_space
from yolocls.training.sweep import trial_options


def test_named_spaces_and_files_load(tmp_path):
    assert set(load_space("default").params) == {"lr0", "weight_decay", "label_smoothing", "aug"}
    mine = tmp_path / "space.yaml"
    mine.write_text("params:\n  lr0: {loguniform: [0.0001, 0.01]}\n  imgsz: {choice: [32, 64]}\n")
    assert load_space(str(mine)).params["imgsz"] == {"choice": [32, 64]}


@pytest.mark.parametrize("text, message", [
    ("params: {}\n", "the search space is empty"),
    ("params:\n  colour: {choice: [1, 2]}\n", "'colour' is not a training argument"),
    ("params:\n  lr0: {normal: [0.1, 0.2]}\n", "lr0: give one of loguniform, uniform, randint, choice"),
    ("params:\n  lr0: {uniform: [0.2, 0.1]}\n", "lr0: uniform needs [low, high] with low < high"),
    ("params:\n  aug: {choice: [sparkly]}\n", "aug: unknown augmentation set 'sparkly'"),
    ("params:\n  lr0: {uniform: [-1, 0.1]}\n", "lr0=-1"),
])
def test_bad_spaces_are_one_clear_line(tmp_path, text, message):
    space = tmp_path / "space.yaml"
    space.write_text(text)
    with pytest.raises(ConfigError, match="--space") as err:
        load_space(str(space))
    assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="unknown 'nope'; valid: default, small-images"):
        load_space("nope")


def test_a_trial_is_the_base_run_with_its_sampled_values():
    base = {"preset": "small-fast", "epochs": 3, "set": ["warmup_epochs=0"]}
    opts = trial_options(base, {"lr0": 0.003, "aug": "light", "imgsz": 64.0}, "s-1", Path("runs"))
    assert opts["aug"] == "light" and opts["imgsz"] == 64 and opts["name"] == "s-1" and opts["stop_file"]
    assert opts["set"] == ["warmup_epochs=0", "lr0=0.003"]


@pytest.mark.slow
def test_a_two_trial_sweep_on_local_ray_leaves_runs_and_a_best_preset(tmp_path):
    data = make_learnable_dataset(tmp_path / "src", per_class=20)
    runs = tmp_path / "runs"
    out = subprocess.run([sys.executable, "-m", "yolocls", "tune", str(data), "--trials", "2", "--epochs", "2",
                          "--imgsz", "32", "--batch", "8", "--no-pretrained", "--set", "warmup_epochs=0", "--set",
                          "workers=0", "--runs-dir", str(runs), "--name", "sw", "--quiet"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    sweep = json.loads((runs / "sw" / "sweep.json").read_text())
    assert len(sweep["trials"]) == 2 and sweep["best"]["run"] in out.stdout
    for trial in sweep["trials"]:  # each a normal run, on the leaderboard
        record = json.loads((runs / trial["run"] / "run.json").read_text())
        assert record["status"] in ("completed", "interrupted") and record["epochs_completed"] >= 1
        assert record["args"]["lr0"] == pytest.approx(trial["config"]["lr0"])
    board = subprocess.run([sys.executable, "-m", "yolocls", "runs", "--runs-dir", str(runs)], capture_output=True,
                           text=True, timeout=120)
    assert all(t["run"] in board.stdout for t in sweep["trials"]), board.stdout
    best = yaml.safe_load((runs / "sw" / "best_preset.yaml").read_text())["presets"]["sw-best"]
    assert best["args"]["imgsz"] == 32 and best["args"]["lr0"] == sweep["best"]["config"]["lr0"]
    listed = subprocess.run([sys.executable, "-m", "yolocls", "presets"], capture_output=True, text=True,
                            env={**os.environ, "YOLOCLS_PRESETS": str(runs / "sw" / "best_preset.yaml")})
    assert "sw-best" in listed.stdout
