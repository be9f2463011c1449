"""End to end: the `make demo` script itself (real CLI, real server, real curl) in a temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_pipeline_end_to_end_twice(tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    env = {**os.environ, "DEMO_DATA": str(tmp_path / "data"), "DEMO_RUNS_DIR": str(tmp_path / "runs")}
    for _ in range(2):  # the second run reuses the dataset and makes a new run folder
        res = subprocess.run(["bash", str(REPO / "scripts" / "demo.sh")], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=900)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
        assert "correct" in res.stdout and "WRONG" not in res.stdout
        assert "6/6 what next" in res.stdout
    assert "reusing" in res.stdout
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2
    for run in runs:
        assert json.loads((run / "run.json").read_text())["status"] == "completed"
        assert (run / "report" / "report.html").is_file()
        assert json.loads((run / "export.json").read_text())["parity"]["passed"]
    # the server was stopped: nothing listens any more on the printed port
    port = res.stdout.split("http://127.0.0.1:")[1].split(" ")[0]
    assert subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/health"], capture_output=True).returncode != 0
