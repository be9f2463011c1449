"""Packaging facts users rely on: the console script, the serve image's requirements, the CLI's speed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent


def _names(reqs: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", r.strip(), maxsplit=1)[0].lower().replace("_", "-") for r in reqs if r.strip()}


def test_serve_requirements_are_a_subset_of_the_package_dependencies():
    deps = _names(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
    lines = [ln for ln in (REPO / "docker" / "requirements-serve.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    serve = _names(lines)
    deps_with_headless = deps | {"opencv-python-headless"}  # the image uses OpenCV's headless build
    assert serve <= deps_with_headless, serve - deps_with_headless
    assert not {"torch", "ultralytics", "torchvision"} & serve


def test_help_is_fast_and_lists_every_command():
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "yolocls", "--help"], capture_output=True,
                         text=True, check=True)
    for command in ("prepare", "train", "presets", "report", "runs", "export", "serve", "predict"):
        assert command in out.stdout
    assert "torch" not in {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines()}
