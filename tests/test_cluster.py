"""The studio on a real two-node Ray cluster started on this machine (`ray start --head` with no CPUs, so jobs run
on the worker node; each node with its own temp dir; token authentication on; every process stopped by its own
id, never `ray stop`). A worker node killed mid-job leaves an interrupted, resumable job."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Studio, free_port
from yolocls.training.rundir import checkpoint_exists

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).parent / "ray")


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
        self.nodes: list[Path] = []

    def start_node(self, head: bool, cpus: int) -> Path:
        temp = self.root / f"node{len(self.nodes)}"
        temp.mkdir(parents=True)
        where = ["--head", f"--port={self.port}", "--include-dashboard=false"] if head else \
            [f"--address=127.0.0.1:{self.port}"]
        subprocess.run([RAY, "start", *where, f"--temp-dir={temp}", f"--num-cpus={cpus}", "--disable-usage-stats"],
                       env=self.env, check=True, capture_output=True, timeout=120)
        self.nodes.append(temp)
        return temp

    def pids(self, temp: Path) -> list[int]:
        """The processes of one node: those whose command line or open files name its temp dir, and their
        children (Ray's workers)."""
        own = set()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
                env_or_fds = " ".join(os.readlink(fd) for fd in (proc / "fd").iterdir() if fd.is_symlink())
            except OSError:
                continue
            if str(temp) in cmdline or str(temp) in env_or_fds:
                own.add(int(proc.name))
        out = subprocess.run(["ps", "-eo", "pid,ppid"], capture_output=True, text=True).stdout.split("\n")[1:]
        children = {int(p) for line in out if line.split() for p, pp in [line.split()] if int(pp) in own}
        return sorted(own | children)

    def kill_node(self, temp: Path) -> None:
        for pid in self.pids(temp):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(Path(f"/tmp/yc-{secrets.token_hex(3)}"))  # short: Ray's socket paths have a length limit
    try:
        c.start_node(head=True, cpus=0)
        c.start_node(head=False, cpus=2)
        yield c
    finally:
        for node in reversed(c.nodes):
            c.kill_node(node)
        subprocess.run(["rm", "-rf", str(c.root)], check=False)


def test_a_lost_worker_node_leaves_an_interrupted_resumable_job(cluster, tmp_path):
    # the studio has the cluster's token but not RAY_AUTH_MODE: it must turn token authentication on itself
    env = {"RAY_ADDRESS": f"127.0.0.1:{cluster.port}", "RAY_AUTH_TOKEN": cluster.env["RAY_AUTH_TOKEN"]}
    studio = Studio(tmp_path / "home", env=env)
    studio.env.pop("RAY_AUTH_MODE", None)
    studio.start()
    try:
        dataset = studio.ready_dataset("on-cluster")
        job = studio.train(dataset, epochs=60)
        studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] == "running" and j["epoch"] >= 1, timeout=300)
        cluster.kill_node(cluster.nodes[1])
        lost = studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] != "running", timeout=120)
        assert lost["status"] == "interrupted" and "resume" in lost["error"], lost
        run_dir = studio.home / "runs" / lost["run"]
        assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
        # the last checkpoint, or its complete previous version when the kill cut its rewrite (resume restores it)
        assert checkpoint_exists(run_dir / "weights" / "last.pt")
        assert studio.api("POST", f"/jobs/{job['id']}/resume").status_code == 202
        time.sleep(3)  # no node has a free CPU: honestly queued, not "running, epoch 0"
        assert studio.api("GET", f"/jobs/{job['id']}").json()["status"] == "queued"
        cluster.start_node(head=False, cpus=2)
        resumed = studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] == "running" and j["epoch"] > lost["epoch"],
                              timeout=300)
        assert resumed["epoch"] > lost["epoch"]
        studio.api("POST", f"/jobs/{job['id']}/cancel")
        studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] not in ("queued", "running"), timeout=180)
    finally:
        studio.stop()
