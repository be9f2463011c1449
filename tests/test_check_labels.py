"""`yolocls check-labels`: k-fold out-of-sample probabilities ranked by cleanlab put the mislabelled images first."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import class_image
from yolocls.data.prepare import PrepareOptions, prepare_dataset


def mislabelled_dataset(base: Path, per_class: int = 30, moved: int = 3) -> tuple[Path, list[str]]:
    """Three easily learnt classes; `moved` red images filed under green. Returns the dataset and their names."""
    src = base / "src"
    for ci, name in enumerate(("red", "green", "blue")):
        (src / name).mkdir(parents=True)
        for k in range(per_class):
            class_image(ci, ci * 1000 + k).save(src / name / f"{name}{k:03d}.png")
    wrong = [f"red{k:03d}.png" for k in range(moved)]
    for name in wrong:
        shutil.move(src / "red" / name, src / "green" / name)
    return prepare_dataset(PrepareOptions(source=src, out=base / "data", progress=False)).out, wrong


@pytest.mark.slow
def test_the_mislabelled_images_rank_first_with_the_right_suggestion(tmp_path):
    data, wrong = mislabelled_dataset(tmp_path)
    out = subprocess.run([sys.executable, "-m", "yolocls", "check-labels", str(data), "--folds", "3", "--epochs", "15",
                          "--imgsz", "32", "--batch", "8", "--device", "cpu", "--no-pretrained", "--aug", "none",
                          "--set", "warmup_epochs=0", "--set", "workers=0", "--set", "lr0=0.01",
                          "--runs-dir", str(tmp_path / "runs"), "--name", "check"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = list(csv.DictReader((tmp_path / "runs" / "check" / "label_issues.csv").open()))
    assert len(rows) == 90  # every image ranked
    top = rows[:len(wrong)]
    assert sorted(Path(r["path"]).name for r in top) == wrong, top  # precision and recall at k = 1
    assert all(r["given"] == "green" and r["suggested"] == "red" for r in top)
    assert "looks like red" in out.stdout
    gallery = (tmp_path / "runs" / "check" / "gallery.html").read_text()
    assert "data:image/jpeg;base64," in gallery and "red00" in gallery


def test_too_few_images_for_the_folds_is_one_line(tmp_path):
    data, _ = mislabelled_dataset(tmp_path, per_class=4, moved=0)
    out = subprocess.run([sys.executable, "-m", "yolocls", "check-labels", str(data), "--folds", "5", "--runs-dir",
                          str(tmp_path / "runs")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "5-fold cross-validation needs at least 5 images of every class" in out.stderr
    assert "use --folds 4" in out.stderr and not (tmp_path / "runs").exists()
