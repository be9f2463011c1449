"""`yolocls learning-curve`: nested subsets, one run per fraction, the fit and its one-line verdict."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import make_learnable_dataset
from yolocls.core.errors import ConfigError, DatasetError
from yolocls.data.manifest import load_manifest
from yolocls.data.subset import write_subset
from yolocls.evaluation.learning_curve import CurvePoint, doubling_gain, fit_curve, parse_fractions, verdict


def test_fractions_are_checked_in_one_line():
    assert parse_fractions("1, 0.1,0.5") == [0.1, 0.5, 1.0]
    for bad in ("0,0.5", "0.5,1.5", "0.5", "a,b", "-0.1,1"):
        with pytest.raises(ConfigError, match="--fractions"):
            parse_fractions(bad)


def test_subsets_are_nested_stratified_and_keep_val_and_test(tmp_path):
    data = make_learnable_dataset(tmp_path / "src", per_class=(40, 20, 10))
    small = write_subset(data, tmp_path / "s25", 0.25)
    half = write_subset(data, tmp_path / "s50", 0.5)
    full = load_manifest(data)
    assert small.counts["train"] == {k: round(v * 0.25) for k, v in full.counts["train"].items()}
    train = lambda m: {f.path for f in m.files if f.path.startswith("train/")}  # noqa: E731
    assert train(small) < train(half)  # nested: the 25 % images are all in the 50 % subset
    rest = lambda m: {f.path for f in m.files if not f.path.startswith("train/")}  # noqa: E731
    assert rest(small) == rest(half) == rest(full)  # the same val and test images
    assert all((tmp_path / "s25" / p).is_file() for p in train(small))
    assert load_manifest(tmp_path / "s25").counts["train"] == small.counts["train"]
    with pytest.raises(DatasetError, match="class 'blue' has 6 training image\\(s\\): 5% of them is less than one"):
        write_subset(data, tmp_path / "s5", 0.05)


def test_the_fit_recovers_a_saturating_curve_and_the_verdict_follows_it():
    n = np.array([60.0, 150.0, 300.0, 600.0])
    error = 2.0 * n ** -0.6 + 0.05
    fit = fit_curve(n, error)
    assert fit is not None and fit.c == pytest.approx(0.05, abs=0.01) and fit.b == pytest.approx(0.6, abs=0.05)
    points = [CurvePoint(fraction=f, images_per_class=k, train_images=int(10 * k), run="r", test_top1=1 - e,
                         test_macro_f1=1 - e, split="test", seconds=1) for f, k, e in zip((.1, .25, .5, 1), n, error)]
    gain = doubling_gain(points, fit)
    assert gain == pytest.approx(100 * 2.0 * (600 ** -0.6 - 1200 ** -0.6), rel=0.05)
    assert verdict(points, fit, gain).startswith("More data is likely to help: doubling to ~1200 images per class "
                                                 "should add about 1.5 points")
    flat = verdict(points, fit, 0.1)
    assert flat.startswith("More data is unlikely to help much") and "levels off near 0.95" in flat


@pytest.mark.slow
def test_the_command_writes_the_points_the_plot_and_the_verdict(tmp_path):
    data = make_learnable_dataset(tmp_path / "src", per_class=30)
    out = subprocess.run([sys.executable, "-m", "yolocls", "learning-curve", str(data), "--fractions", "0.5,1",
                          "--epochs", "2", "--imgsz", "32", "--batch", "8", "--device", "cpu", "--no-pretrained",
                          "--aug", "none", "--set", "warmup_epochs=0", "--runs-dir", str(tmp_path / "runs"),
                          "--name", "curve", "--quiet"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    folder = tmp_path / "runs" / "curve"
    rows = list(csv.DictReader((folder / "learning_curve.csv").open()))
    assert [float(r["fraction"]) for r in rows] == [0.5, 1.0] and rows[0]["split"] == "test"
    assert float(rows[0]["images_per_class"]) < float(rows[1]["images_per_class"])
    saved = json.loads((folder / "learning_curve.json").read_text())
    assert saved["verdict"] in out.stdout and saved["verdict"].startswith("More data")
    assert (folder / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (folder / "runs" / "50pct" / "report" / "metrics.json").is_file()


def test_a_class_too_small_for_a_fraction_stops_before_any_training(tmp_path):
    data = make_learnable_dataset(tmp_path / "src", per_class=(30, 30, 4))
    out = subprocess.run([sys.executable, "-m", "yolocls", "learning-curve", str(data), "--fractions", "0.1,1",
                          "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "class 'blue' has 2 training image(s): 10% of them is less than one image" \
        in out.stderr, out.stderr
    assert not (tmp_path / "runs").exists()
