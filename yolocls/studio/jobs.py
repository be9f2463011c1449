"""The job engine: Ray, behind a small interface (start, submit, done/result, kill). The only module that
imports Ray. Local by default (embedded: nothing to start, no dashboard); `ray_address` joins a cluster,
where a training job reserves one GPU when the cluster has GPUs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yolocls.core.errors import YoloclsError
from yolocls.core.limits import available_cpus
from yolocls.studio.jobmodel import ALL_WORK, JobResult, WorkSpec

WORKER_MODULE = "yolocls.studio.worker"  # imported by name: the web process never loads what workers import


class EngineError(YoloclsError):
    status_code = 503


@dataclass
class Handle:
    """A submitted task (opaque to the rest of the studio) and the work it does."""

    ref: Any
    work: WorkSpec


def _worker_function(work: WorkSpec) -> Any:
    import importlib

    return getattr(importlib.import_module(WORKER_MODULE), work.worker)


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


def token_auth_env(environ: dict[str, str], home: Path) -> dict[str, str]:
    """What to add to the environment before joining a cluster: RAY_AUTH_MODE=token when the user has a Ray
    token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) but did not say the mode; a cluster started
    with token authentication refuses a client without it, and says why only in its own log."""
    has_token = bool(environ.get("RAY_AUTH_TOKEN") or environ.get("RAY_AUTH_TOKEN_PATH")) or \
        (home / ".ray" / "auth_token").is_file()
    return {"RAY_AUTH_MODE": "token"} if has_token and "RAY_AUTH_MODE" not in environ else {}


AUTH_HINT = ("; if the cluster uses token authentication (RAY_AUTH_MODE=token on its nodes), the studio needs the "
             "same token in ~/.ray/auth_token or RAY_AUTH_TOKEN (it then sets RAY_AUTH_MODE=token itself)")


def _typed(work: WorkSpec, value: Any) -> JobResult:
    return value if isinstance(value, work.result) else work.result.model_validate(value)


def _ended(exc: BaseException) -> str:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"the job's worker process ended: {type(exc).__name__}: {first}"


class JobEngine:
    def __init__(self, address: str | None) -> None:
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.gpus = 0.0

    def start(self) -> None:
        check_workers()
        if not self.address:
            # Embedded: one machine, so every Ray process listens on loopback only (Ray's own switch for a
            # local-only node; read when Ray is imported, and inherited by its workers) ...
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            # ... and jobs run at normal priority: Ray's default (nice 15) lets any other busy process on
            # the machine starve a training job (measured: 3 % of a core next to two busy processes).
            os.environ.setdefault("RAY_worker_niceness", "0")
        else:  # Ray reads its authentication mode when it is imported
            os.environ.update(token_auth_env(dict(os.environ), Path.home()))
        import ray

        try:
            if self.address:
                ray.init(address=self.address, namespace="yolocls", log_to_driver=False,
                         configure_logging=False, ignore_reinit_error=True)
            else:
                ray.init(num_cpus=available_cpus(), include_dashboard=False, namespace="yolocls",
                         log_to_driver=False, configure_logging=False, ignore_reinit_error=True)
        except Exception as exc:
            where = self.address or "a local Ray"
            hint = AUTH_HINT if self.address else ""
            raise EngineError(f"cannot start the job engine ({where}): {exc}{hint}") from exc
        self.gpus = float(ray.cluster_resources().get("GPU", 0))

    def stop(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()

    def training_slots(self, cpu_slots: int) -> int:
        """One training job per GPU; on a CPU-only cluster the configured number."""
        return int(self.gpus) if self.gpus >= 1 else cpu_slots

    def submit(self, work: WorkSpec, *args: Any, gpus: int = 1) -> Handle:
        """Run `work`'s worker function with `args` in a Ray worker process; work that uses GPUs asks for `gpus`
        of them when the cluster has GPUs (0: a CPU job, which never holds a GPU)."""
        import ray

        options: dict[str, Any] = {"max_retries": 0, "num_cpus": 1}
        if work.gpu and self.gpus >= 1 and gpus > 0:
            options["num_gpus"] = min(gpus, int(self.gpus))
        if self.address:  # a cluster's workers start with `ray start`'s environment, not the studio's
            options["runtime_env"] = {"env_vars": worker_env(dict(os.environ))}
        return Handle(ray.remote(_worker_function(work)).options(**options).remote(*args), work)

    def done(self, handle: Handle) -> bool:
        import ray

        ready, _ = ray.wait([handle.ref], timeout=0)
        return bool(ready)

    def result(self, handle: Handle) -> JobResult:
        """The task's typed result; a task that crashed or was killed becomes its kind's failure."""
        import ray

        try:
            return _typed(handle.work, ray.get(handle.ref))
        except Exception as exc:
            return handle.work.result.crashed(_ended(exc))

    async def wait(self, handle: Handle) -> JobResult:
        """Await a task from the event loop (Ray object refs are awaitable)."""
        try:
            return _typed(handle.work, await handle.ref)
        except Exception:
            return self.result(handle)

    def kill(self, handle: Handle) -> None:
        import ray

        ray.cancel(handle.ref, force=True)
