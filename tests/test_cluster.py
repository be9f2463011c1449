"""The studio's job engine when it fails: its Ray driver process killed (embedded Ray), and a real two-node Ray
cluster started on this machine (`ray start --head` with no CPUs, so jobs run on the worker node; each node with
its own temp dir; token authentication on; every process stopped by its own id, never `ray stop`) losing its
worker node or its head mid-job. Jobs end interrupted and resumable; the studio stays up, keeps answering
predictions, refuses new jobs with a 503 while the engine is away, and reconnects by itself."""

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

import httpx
import pytest

from tests.helpers import Studio, free_port, png_bytes
from yolocls.training.rundir import checkpoint_exists

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).parent / "ray")


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
        self.nodes: list[Path] = []

    def start_node(self, head: bool, cpus: int, gpus: int = 0) -> Path:
        temp = self.root / f"node{len(self.nodes)}"
        temp.mkdir(parents=True)
        where = ["--head", f"--port={self.port}", "--include-dashboard=false"] if head else \
            [f"--address=127.0.0.1:{self.port}"]
        subprocess.run([RAY, "start", *where, f"--temp-dir={temp}", f"--num-cpus={cpus}", f"--num-gpus={gpus}",
                        "--disable-usage-stats"],
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


def check_engine_away(studio: Studio, dataset: str, model: str) -> None:
    """While the engine is unavailable: the web process is up, not ready, refuses jobs with a 503 naming the
    reason, and its deployed model answers."""
    assert httpx.get(f"{studio.url}/health").status_code == 200
    assert httpx.get(f"{studio.url}/ready").status_code == 503
    state = studio.api("GET", "/status").json()
    assert state["available"] is False and state["reason"], state
    refused = studio.api("POST", "/jobs", json={"dataset": dataset, "epochs": 1, "imgsz": 32, "device": "cpu"})
    assert refused.status_code == 503 and "unavailable" in refused.json()["detail"], refused.text
    answer = studio.api("POST", f"/models/{model}/predict", files={"file": ("r.png", png_bytes(0, 3), "image/png")})
    assert answer.status_code == 200 and answer.json()["model"]["name"] == f"{model}:v1", answer.text


def test_a_killed_job_engine_leaves_the_studio_serving_and_it_reconnects(tmp_path):
    studio = Studio(tmp_path / "home", env={"YOLOCLS_RECONNECT_S": "10"}).start()
    try:
        dataset = studio.ready_dataset("engine")
        first = studio.train(dataset, epochs=1)
        first = studio.wait(f"/jobs/{first['id']}", lambda j: j["status"] not in ("queued", "running"))
        studio.deploy(first["run"], "engine")
        job = studio.train(dataset, epochs=60)
        studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] == "running" and j["epoch"] >= 1)
        os.kill(studio.driver_pid(), signal.SIGKILL)
        lost = studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] != "running", timeout=30)
        assert lost["status"] == "interrupted" and "job engine was lost" in lost["error"], lost
        check_engine_away(studio, dataset, "engine")
        deadline = time.time() + 120
        while httpx.get(f"{studio.url}/ready").status_code != 200 and time.time() < deadline:
            time.sleep(0.5)
        assert studio.api("GET", "/status").json()["available"] is True
        assert studio.api("POST", f"/jobs/{job['id']}/resume").status_code == 202
        resumed = studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] == "running" and j["epoch"] > lost["epoch"])
        assert resumed["epoch"] > lost["epoch"]
        studio.api("POST", f"/jobs/{job['id']}/cancel")
        studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] not in ("queued", "running"), timeout=180)
    finally:
        studio.stop()


def test_a_lost_head_keeps_the_studio_serving_and_it_joins_the_restarted_cluster(cluster, tmp_path):
    env = {"RAY_ADDRESS": f"127.0.0.1:{cluster.port}", "RAY_AUTH_TOKEN": cluster.env["RAY_AUTH_TOKEN"],
           "YOLOCLS_RECONNECT_S": "3"}
    studio = Studio(tmp_path / "home", env=env).start()
    try:
        dataset = studio.ready_dataset("head")
        first = studio.train(dataset, epochs=1)
        first = studio.wait(f"/jobs/{first['id']}", lambda j: j["status"] not in ("queued", "running"))
        studio.deploy(first["run"], "head")
        job = studio.train(dataset, epochs=60)
        studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] == "running" and j["epoch"] >= 1)
        cluster.kill_node(cluster.nodes[0])
        killed = time.time()
        lost = studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] != "running", timeout=90)
        print(f"head lost: job {lost['status']} after {time.time() - killed:.1f} s")
        assert lost["status"] == "interrupted" and "job engine was lost" in lost["error"], lost
        check_engine_away(studio, dataset, "head")
        run_dir = studio.home / "runs" / lost["run"]
        assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
        # the head comes back as a new cluster (a new id) at the same address, with a new worker node
        cluster.start_node(head=True, cpus=0)
        cluster.start_node(head=False, cpus=2)
        back = time.time()
        while httpx.get(f"{studio.url}/ready").status_code != 200 and time.time() < back + 180:
            time.sleep(0.5)
        print(f"head back: ready {time.time() - back:.1f} s after the nodes started, {time.time() - killed:.1f} s "
              "after the head was killed")
        assert httpx.get(f"{studio.url}/ready").status_code == 200
        assert studio.api("POST", f"/jobs/{job['id']}/resume").status_code == 202
        resumed = studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] == "running" and j["epoch"] > lost["epoch"],
                              timeout=300)
        assert resumed["epoch"] > lost["epoch"]
        studio.api("POST", f"/jobs/{job['id']}/cancel")
        studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] not in ("queued", "running"), timeout=180)
    finally:
        studio.stop()


def test_gpu_reservations_on_a_fake_gpu_node(tmp_path):
    """A node that says it has 2 GPUs (`--num-gpus=2`, none real): a `cpu` job reserves its CPUs and no GPU; a job
    asking for more GPUs than any node has waits with the reason and cancels at once, leaving nothing; one asking
    for "0,1" gets two GPUs of one node (renumbered 0,1 in its worker, which finds no CUDA device here)."""
    cluster = Cluster(Path(f"/tmp/yc-{secrets.token_hex(3)}"))
    try:
        cluster.start_node(head=True, cpus=0)
        cluster.start_node(head=False, cpus=2, gpus=2)
        env = {"RAY_ADDRESS": f"127.0.0.1:{cluster.port}", "RAY_AUTH_TOKEN": cluster.env["RAY_AUTH_TOKEN"]}
        studio = Studio(tmp_path / "home", env=env).start()
        try:
            dataset = studio.ready_dataset("gpus")
            cpu_job = studio.train(dataset, epochs=2000)
            studio.wait(f"/jobs/{cpu_job['id']}", lambda j: j["status"] == "running")
            state = studio.wait("/status", lambda s: s["free"]["CPU"] == 0.0, timeout=30)  # it holds the node's CPUs
            assert state["free"]["GPU"] == 2.0, state  # and no GPU
            assert sorted(n["GPU"] for n in state["nodes"]) == [0.0, 2.0], state
            too_big = studio.train(dataset, epochs=1, device="0,1,2")
            waiting = studio.wait(f"/jobs/{too_big['id']}", lambda j: j["waiting"] is not None, timeout=60)
            assert waiting["status"] == "queued" and "no live node has that many" in waiting["waiting"], waiting
            t0 = time.time()
            assert studio.api("POST", f"/jobs/{too_big['id']}/cancel").json()["status"] == "cancelled"
            assert time.time() - t0 < 5 and not (studio.home / "runs" / too_big["run"]).exists()
            studio.api("POST", f"/jobs/{cpu_job['id']}/cancel")
            studio.wait(f"/jobs/{cpu_job['id']}", lambda j: j["status"] not in ("queued", "running"), timeout=180)
            two = studio.train(dataset, epochs=1, device="0,1")
            ended = studio.wait(f"/jobs/{two['id']}", lambda j: j["status"] not in ("queued", "running"), timeout=120)
            assert ended["status"] == "failed" and "GPU [0, 1] not available (0 CUDA device(s)" in ended["error"], ended
        finally:
            studio.stop()
    finally:
        for node in reversed(cluster.nodes):
            cluster.kill_node(node)
        subprocess.run(["rm", "-rf", str(cluster.root)], check=False)
