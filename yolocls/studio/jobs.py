"""The job engine: Ray, behind a small interface (start, submit, done/result, kill, resources). Ray itself runs in
a child process (`ray_driver`), so losing the cluster's head never takes the studio down: the engine says it is
unavailable, and `reconnect` starts a new driver. Local by default (embedded: nothing to start, no dashboard);
`ray_address` joins a cluster."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolocls.core.errors import YoloclsError
from yolocls.core.limits import available_cpus
from yolocls.core.rayauth import AUTH_HINT, token_auth_env
from yolocls.studio import ray_driver
from yolocls.studio.jobmodel import ALL_WORK, JobResult, WorkSpec
from yolocls.studio.ray_driver import WORKER_MODULE

log = logging.getLogger("yolocls.studio")
START_TIMEOUT_S = 180.0  # starting an embedded Ray or joining a cluster
CALL_TIMEOUT_S = 30.0  # any other call to the driver: longer means the cluster is not answering


class EngineError(YoloclsError):
    status_code = 503


class EngineUnavailable(EngineError):
    """The driver process or its cluster is gone (the studio reconnects by itself)."""


@dataclass
class Handle:
    """A submitted task (its number in the driver that took it) and the work it does."""

    task: int
    work: WorkSpec
    generation: int


@dataclass
class Resources:
    """The cluster's live nodes (their CPUs and GPUs) and what is free, as last read."""

    nodes: list[dict[str, float]] = field(default_factory=list)
    free: dict[str, float] = field(default_factory=dict)

    @property
    def gpus(self) -> float:
        return sum(n.get("GPU", 0.0) for n in self.nodes)

    def largest(self, resource: str) -> float:
        return max((n.get(resource, 0.0) for n in self.nodes), default=0.0)

    def placeable(self, cpus: int, gpus: int) -> bool:
        return any(n.get("CPU", 0.0) >= cpus and n.get("GPU", 0.0) >= gpus for n in self.nodes)


def check_workers(work: tuple[WorkSpec, ...] = ALL_WORK) -> None:
    """Every worker function a kind of work names exists (checked at start-up, not when a job runs)."""
    import importlib

    module = importlib.import_module(WORKER_MODULE)
    missing = [w.worker for w in work if not callable(getattr(module, w.worker, None))]
    if missing:
        raise EngineError(f"{WORKER_MODULE} has no worker function {', '.join(missing)}")


# The studio's settings a job's worker needs wherever it runs (never the API key: workers do not serve).
WORKER_ENV_PREFIXES = ("YOLOCLS_", "YOLO_")
WORKER_ENV_NAMES = ("OPENCV_IO_MAX_IMAGE_PIXELS", "MPLBACKEND")
WORKER_ENV_SECRETS = ("YOLOCLS_API_KEY",)


def worker_env(environ: dict[str, str]) -> dict[str, str]:
    """The environment variables a job carries to a cluster's worker nodes (`YOLOCLS_WEIGHTS_DIR`, the offline
    Ultralytics settings, OpenCV's decode cap), so a job runs there as it would on the studio's machine."""
    return {k: v for k, v in environ.items()
            if (k.startswith(WORKER_ENV_PREFIXES) or k in WORKER_ENV_NAMES) and k not in WORKER_ENV_SECRETS}


def _typed(work: WorkSpec, value: Any) -> JobResult:
    return value if isinstance(value, work.result) else work.result.model_validate(value)


class JobEngine:
    """The studio's side of the driver process. Thread-safe: one call at a time over the pipe."""

    def __init__(self, address: str | None, extra_cpus: int = 0) -> None:
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        # embedded: logical CPUs beyond the cores, so preparations and deployments never wait behind a training
        # job that reserved every core (the studio's own slots bound how many run)
        self.extra_cpus = 0 if self.address else extra_cpus
        self.generation = 0  # +1 at every driver started: handles of an older one are gone
        self.lost: str | None = "not started"
        self.lost_at = time.monotonic()
        self.resources = Resources()
        self._proc: Any = None
        self._conn: Any = None
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        return f"the Ray cluster at {self.address}" if self.address else "the local Ray"

    @property
    def available(self) -> bool:
        return self.lost is None and self._proc is not None and self._proc.is_alive()

    def check(self) -> bool:
        """Whether the driver is alive; a driver found dead is a loss (its time starts the reconnect pause)."""
        if self.lost is None and not self.available:
            with self._lock:
                self._lose(f"the Ray driver process ended (exit code {getattr(self._proc, 'exitcode', None)})")
        return self.available

    def start(self) -> None:
        """Start the driver and connect (embedded Ray or the cluster); EngineError with the reason otherwise."""
        check_workers()
        env = {}
        if not self.address:
            # Embedded: one machine, so every Ray process listens on loopback only (Ray's own switch for a
            # local-only node, read when Ray is imported and inherited by its workers), and jobs run at normal
            # priority: Ray's default (nice 15) lets any busy process starve a training job (measured: 3 % of a core).
            env = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_worker_niceness": "0"}
            env = {k: v for k, v in env.items() if k not in os.environ}
        else:  # Ray reads its authentication mode when it is imported
            env = token_auth_env(dict(os.environ), Path.home())
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of the studio's threads
        conn, child = ctx.Pipe()
        proc = ctx.Process(target=ray_driver.serve, name="yolocls-ray-driver",
                           args=(child, self.address, available_cpus() + self.extra_cpus, env))
        proc.start()
        child.close()
        answer = conn.recv() if conn.poll(START_TIMEOUT_S) else ("err", f"no answer in {START_TIMEOUT_S:.0f} s")
        if answer[0] != "ok":
            _end(proc)
            hint = AUTH_HINT if self.address else ""
            raise EngineError(f"cannot start the job engine ({self.address or 'a local Ray'}): {answer[1]}{hint}")
        with self._lock:
            self._proc, self._conn = proc, conn
            self.generation += 1
            self.lost = None
        self.refresh()

    def reconnect(self) -> bool:
        """Start a new driver after a loss; False (and the reason kept) while the cluster is still away."""
        try:
            self.start()
        except EngineError as exc:
            self.lost, self.lost_at = str(exc), time.monotonic()
            return False
        log.warning("the job engine is back (%s)", self.where)
        return True

    def _lose(self, reason: str) -> None:
        if self.lost is None:
            log.error("the job engine is unavailable: %s", reason)
            self.lost, self.lost_at = reason, time.monotonic()
        _end(self._proc, grace_s=0)

    def _call(self, op: str, *args: Any, timeout: float = CALL_TIMEOUT_S) -> Any:
        with self._lock:
            if not self.available:
                self._lose(f"the Ray driver process ended (exit code {getattr(self._proc, 'exitcode', None)})")
                raise EngineUnavailable(f"the job engine ({self.where}) is unavailable: {self.lost}")
            try:
                self._conn.send((op, args))
                if not self._conn.poll(timeout):
                    raise TimeoutError(f"{self.where} did not answer in {timeout:.0f} s")
                status, value = self._conn.recv()
            except (EOFError, OSError) as exc:  # TimeoutError included
                self._lose(str(exc) if isinstance(exc, TimeoutError) else f"the Ray driver process ended "
                           f"({type(exc).__name__})")
                raise EngineUnavailable(f"the job engine ({self.where}) is unavailable: {self.lost}") from None
        if status != "ok":
            raise EngineError(f"the job engine ({self.where}): {value}")
        return value

    def stop(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.is_alive():
                try:
                    self._conn.send(("shutdown", ()))
                    self._conn.poll(30)
                except OSError:
                    pass
            _end(self._proc)
            self._proc, self.lost = None, "stopped"

    def refresh(self) -> Resources:
        """Read the cluster's nodes and free resources again (nodes come and go)."""
        value = self._call("resources")
        self.resources = Resources(nodes=value["nodes"], free=value["free"])
        return self.resources

    def training_slots(self, cpu_slots: int) -> int:
        """One training job per GPU; on a CPU-only cluster the configured number."""
        gpus = self.resources.gpus
        return int(gpus) if gpus >= 1 else cpu_slots

    def submit(self, work: WorkSpec, *args: Any, gpus: int = 1, cpus: int = 1) -> Handle:
        """Run `work`'s worker function with `args` in a Ray worker process holding `cpus` CPUs; work that uses
        GPUs asks for `gpus` of them (on one node) when the cluster has GPUs (0: a CPU job, which holds none)."""
        options: dict[str, Any] = {"max_retries": 0, "num_cpus": cpus}
        if work.gpu and self.resources.gpus >= 1 and gpus > 0:
            options["num_gpus"] = gpus
        if self.address:  # a cluster's workers start with `ray start`'s environment, not the studio's
            options["runtime_env"] = {"env_vars": worker_env(dict(os.environ))}
        return Handle(self._call("submit", work.worker, args, options), work, self.generation)

    def asks(self, work: WorkSpec, gpus: int, cpus: int) -> dict[str, int]:
        """What a job of `work` asks Ray for (as `submit` would)."""
        return {"CPU": cpus, **({"GPU": gpus} if work.gpu and self.resources.gpus >= 1 and gpus > 0 else {})}

    def done(self, handle: Handle) -> bool:
        if handle.generation != self.generation:  # its driver is gone, and the task with it
            return True
        return bool(self._call("done", handle.task))

    def result(self, handle: Handle) -> JobResult:
        """The task's typed result; a task that crashed or was killed becomes its kind's failure."""
        if handle.generation != self.generation:
            return handle.work.result.crashed("the job engine was lost while the job ran")
        ok, value = self._call("result", handle.task)
        if not ok:
            return handle.work.result.crashed(f"the job's worker process ended: {value}")
        return _typed(handle.work, value)

    def kill(self, handle: Handle) -> None:
        if handle.generation == self.generation and self.available:
            self._call("kill", handle.task)


def _end(proc: Any, grace_s: float = 30) -> None:
    """Wait up to `grace_s` for the driver process to end, then stop it (SIGTERM, then SIGKILL)."""
    if proc is None:
        return
    proc.join(grace_s)
    for signal_it in (proc.terminate, proc.kill):
        if proc.is_alive():
            signal_it()
            proc.join(5)
