"""The Ray driver: a child process of the studio that holds the connection to Ray, and the only module that
imports Ray. It is a separate process because Ray ends a driver's process when the driver loses its cluster's
head (GCS) and cannot join a restarted head (a new cluster id) afterwards; out here, a lost head costs this
process only, the studio (its pages, its API, its deployed models) stays up and starts a new driver when the
cluster is back. The studio talks to it over a pipe: (operation, arguments) in, ("ok", value) or ("err", text) out.
"""

from __future__ import annotations

import importlib
import os
import signal
from multiprocessing.connection import Connection
from typing import Any

WORKER_MODULE = "yolocls.studio.worker"  # imported by name: the driver never loads what workers import
# How long the driver waits for a lost head before it gives up (Ray's default is 60 s; the studio notices the
# loss, marks the jobs and starts reconnecting after this).
HEAD_LOST_TIMEOUT_S = "15"
KINDS = ("CPU", "GPU")  # the resources the studio reads and reserves


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


class Driver:
    """Submitted tasks by number; Ray's object references never leave this process."""

    def __init__(self) -> None:
        self.refs: dict[int, Any] = {}
        self.next_id = 0

    def submit(self, worker: str, args: tuple[Any, ...], options: dict[str, Any]) -> int:
        import ray

        function = getattr(importlib.import_module(WORKER_MODULE), worker)
        self.next_id += 1
        self.refs[self.next_id] = ray.remote(function).options(**options).remote(*args)
        return self.next_id

    def done(self, task: int) -> bool:
        import ray

        ready, _ = ray.wait([self.refs[task]], timeout=0)
        return bool(ready)

    def result(self, task: int) -> tuple[bool, Any]:
        """(True, the worker's return value) or (False, why the task ended without one)."""
        import ray

        try:
            return True, ray.get(self.refs.pop(task))
        except Exception as exc:
            return False, _first_line(exc)

    def kill(self, task: int) -> None:
        import ray

        ref = self.refs.pop(task, None)
        if ref is not None:
            ray.cancel(ref, force=True)

    def resources(self) -> dict[str, Any]:
        """The cluster as it is now: each live node's resources and what is free."""
        import ray

        nodes = [{k: float(n.get("Resources", {}).get(k, 0.0)) for k in KINDS} for n in ray.nodes() if n.get("Alive")]
        available = ray.available_resources()  # a resource all in use is left out: 0 free
        return {"nodes": nodes, "free": {k: float(available.get(k, 0.0)) for k in KINDS}}


def _connect(address: str | None, num_cpus: int) -> None:
    import ray

    if address:
        ray.init(address=address, namespace="yolocls", log_to_driver=False, configure_logging=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, namespace="yolocls", log_to_driver=False,
                 configure_logging=False)


def serve(conn: Connection, address: str | None, num_cpus: int, env: dict[str, str]) -> None:
    """The child process's body: connect, then answer the studio until it says `shutdown` or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the studio's to handle: it stops jobs cleanly first
    os.environ.update(env)
    os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", HEAD_LOST_TIMEOUT_S)
    try:
        _connect(address, num_cpus)
    except Exception as exc:
        conn.send(("err", _first_line(exc)))
        return
    conn.send(("ok", None))
    driver = Driver()
    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):  # the studio is gone: so are its jobs
            break
        if op == "shutdown":
            break
        try:
            conn.send(("ok", getattr(driver, op)(*args)))
        except Exception as exc:
            conn.send(("err", _first_line(exc)))
    import ray

    ray.shutdown()
    try:
        conn.send(("ok", None))
    except OSError:
        pass
