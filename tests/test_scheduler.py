"""The scheduler's job lifecycle on a real database, with the Ray engine replaced by an in-process one (the fast
layer: slots, typed results, cancel, restart recovery; the end-to-end tests run the same code on a real Ray)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from yolocls.studio.db import Database, migrate
from yolocls.studio.jobmodel import ExportResult, JobKind, JobStatus, TrainResult, WorkSpec
from yolocls.studio.jobs import Handle, Resources
from yolocls.studio.models import EventRow, JobRow
from yolocls.studio.scheduler import Scheduler
from yolocls.studio.settings import StudioSettings


class InProcessEngine:
    """Runs nothing: a submitted task is done when the test says so, with the result the test gives."""

    def __init__(self) -> None:
        self.submitted: list[tuple[WorkSpec, tuple[Any, ...]]] = []
        self.results: dict[int, Any] = {}
        self.killed: list[int] = []
        self.gpus_asked: list[int] = []
        self.cpus_asked: list[int] = []
        self.placeable = True  # False: Ray cannot place the task (no free GPU/CPU, its node gone)
        self.resources = Resources(nodes=[{"CPU": 4.0, "GPU": 2.0}], free={"CPU": 0.0, "GPU": 0.0})
        self.extra_cpus, self.generation, self.lost, self.lost_at = 0, 1, None, 0.0
        self.reconnects = 0

    @property
    def available(self) -> bool:
        return self.lost is None

    def check(self) -> bool:
        return self.available

    def reconnect(self) -> bool:
        self.reconnects += 1
        self.lost, self.generation = None, self.generation + 1
        return True

    def refresh(self) -> Resources:
        return self.resources

    def training_slots(self, cpu_slots: int) -> int:
        return cpu_slots

    def asks(self, work: WorkSpec, gpus: int, cpus: int) -> dict[str, int]:
        return {"CPU": cpus, **({"GPU": gpus} if gpus else {})}

    def submit(self, work: WorkSpec, *args: Any, gpus: int = 1, cpus: int = 1) -> Handle:
        self.submitted.append((work, args))
        self.gpus_asked.append(gpus)
        self.cpus_asked.append(cpus)
        if self.placeable:  # the worker starts at once and says so, as studio.worker does
            Path(args[0]["started_file"]).touch()
        return Handle(len(self.submitted) - 1, work, self.generation)

    def done(self, handle: Handle) -> bool:
        return handle.task in self.results

    def result(self, handle: Handle) -> Any:
        return self.results[handle.task]

    def kill(self, handle: Handle) -> None:
        self.killed.append(handle.task)
        self.results[handle.task] = handle.work.result.crashed("killed")


@pytest.fixture
def scheduler(tmp_path: Path) -> Scheduler:
    settings = StudioSettings(home=tmp_path / "home", cpu_training_slots=1)  # type: ignore[call-arg]
    db = Database(f"sqlite:///{tmp_path / 'studio.db'}")
    migrate(db.engine)
    registered: list[str] = []

    def register(session: Any, model: str, run: str, incoming: Path, result: ExportResult) -> Any:
        registered.append(model)
        from yolocls.studio.schemas import ModelVersionOut

        return ModelVersionOut(model=model, version=len(registered), run=run, sha256=result.sha256 or "",
                               default=True, created="2026-01-01T00:00:00Z", parity=result.parity, classes=[])

    sched = Scheduler(settings, db, InProcessEngine(), register=register)  # type: ignore[arg-type]
    sched.registered = registered  # type: ignore[attr-defined]
    return sched


def add_job(s: Scheduler, job_id: str, kind: JobKind, device: str = "auto", **params: Any) -> None:
    with s.db.session() as session:
        options = {"data": "datasets/x", "incoming": f"models/.incoming/{job_id}.onnx", "device": device}
        job = JobRow(id=job_id, kind=kind.value, status=JobStatus.QUEUED.value, run_name=f"run-{job_id}",
                     params={"options": options, **params}, epochs_planned=1, epochs_done=0)
        session.add(job)
        s.add_event(session, job, "status", {"status": "queued", "error": None, "run": job.run_name})


def status(s: Scheduler, job_id: str) -> str:
    with s.db.session() as session:
        job = session.get(JobRow, job_id)
        assert job is not None
        return job.status


def test_training_slots_are_respected_and_results_decide_the_status(scheduler):
    engine = scheduler.engine
    add_job(scheduler, "a", JobKind.TRAIN, device="cpu")
    add_job(scheduler, "b", JobKind.TRAIN, device="0,1")
    scheduler.tick()
    scheduler.tick()  # handed to Ray, then seen started
    assert [status(scheduler, j) for j in "ab"] == ["running", "queued"]  # one CPU training slot
    engine.results[0] = TrainResult(status="completed", run="run-a")
    scheduler.tick()
    scheduler.tick()
    assert [status(scheduler, j) for j in "ab"] == ["completed", "running"]
    assert engine.gpus_asked == [0, 2]  # a CPU job holds no GPU; two ids ask for two (DDP)
    engine.results[1] = TrainResult(status="failed", error="CUDA out of memory")
    scheduler.tick()
    assert status(scheduler, "b") == "failed"
    with scheduler.db.session() as session:
        kinds = [(e.job_id, e.data["status"]) for e in session.query(EventRow).order_by(EventRow.id)]
    assert kinds == [("a", "queued"), ("b", "queued"), ("a", "running"), ("a", "completed"), ("b", "running"),
                     ("b", "failed")]


def test_a_cancelled_deploy_registers_nothing_and_a_finished_one_registers_once(scheduler):
    engine = scheduler.engine
    add_job(scheduler, "d1", JobKind.DEPLOY, model="m")
    scheduler.tick()
    scheduler.tick()
    scheduler.cancel("d1")
    assert engine.killed == [0]  # not a training job: no stop file, the task is ended
    scheduler.tick()
    assert status(scheduler, "d1") == "cancelled" and scheduler.registered == []
    add_job(scheduler, "d2", JobKind.DEPLOY, model="m")
    scheduler.tick()
    scheduler.tick()
    engine.results[1] = ExportResult(ok=True, sha256="abc", parity={"passed": True})
    scheduler.tick()
    assert status(scheduler, "d2") == "completed" and scheduler.registered == ["m"]
    with scheduler.db.session() as session:
        job = session.get(JobRow, "d2")
        assert job is not None and job.params["deployed"]["model"] == "m"


def test_after_a_restart_deploys_run_again_and_training_is_interrupted(scheduler):
    add_job(scheduler, "t", JobKind.TRAIN)
    add_job(scheduler, "d", JobKind.DEPLOY, model="m")
    scheduler.tick()
    scheduler.tick()
    assert status(scheduler, "t") == status(scheduler, "d") == "running"
    fresh = Scheduler(scheduler.settings, scheduler.db, InProcessEngine(), register=scheduler.register)  # type: ignore[arg-type]
    fresh.recover()
    assert status(fresh, "t") == "interrupted" and status(fresh, "d") == "queued"


def test_a_finished_job_cannot_be_moved_back(scheduler):
    from yolocls.studio.jobmodel import InvalidTransition

    add_job(scheduler, "x", JobKind.TRAIN)
    scheduler.tick()
    scheduler.tick()
    scheduler.engine.results[0] = TrainResult(status="completed")
    scheduler.tick()
    with pytest.raises(InvalidTransition), scheduler.db.session() as session:
        job = session.get(JobRow, "x")
        assert job is not None
        scheduler.set_status(session, job, JobStatus.RUNNING)


def test_shutdown_keeps_a_job_that_completed_just_before_it_and_interrupts_the_others(scheduler):
    add_job(scheduler, "done", JobKind.TRAIN)
    scheduler.settings.cpu_training_slots = 2
    add_job(scheduler, "busy", JobKind.TRAIN)
    scheduler.tick()
    scheduler.tick()
    scheduler.engine.results[0] = TrainResult(status="completed", run="run-done")  # finished, not yet followed
    scheduler.stop_running(timeout_s=0.2)
    assert status(scheduler, "done") == "completed" and status(scheduler, "busy") == "interrupted"
    assert (scheduler.runs_dir / "run-busy" / ".stop").is_file()  # asked to stop at its next batch


def test_a_lost_worker_leaves_a_resumable_job_and_run(scheduler):
    """A node lost mid-job (Ray's NodeDiedError): interrupted in the database and in run.json, not failed."""
    from yolocls.training.rundir import RunRecord, load_run_record

    add_job(scheduler, "n", JobKind.TRAIN)
    scheduler.tick()
    scheduler.tick()
    run_dir = scheduler.runs_dir / "run-n"
    run_dir.mkdir(parents=True)
    RunRecord.model_validate({"name": "run-n", "status": "running", "dataset": "d", "model": "m", "preset": "p",
                              "weights": "m.yaml", "weights_source": "scratch", "classes": ["a", "b"],
                              "versions": {}, "device": "cpu", "args": {}, "epochs_planned": 3,
                              "started": "2026-01-01T00:00:00Z"}).save(run_dir)
    scheduler.engine.results[0] = TrainResult.crashed("the job's worker process ended: NodeDiedError: gone")
    scheduler.tick()
    assert status(scheduler, "n") == "interrupted"
    record = load_run_record(run_dir)
    assert record is not None and record.status == "interrupted" and "--resume" in (record.error or "")


def test_a_job_ray_cannot_place_stays_queued_holds_its_slot_and_cancels_at_once(scheduler):
    engine = scheduler.engine
    engine.placeable = False
    add_job(scheduler, "w", JobKind.TRAIN)
    add_job(scheduler, "x", JobKind.TRAIN)
    for _ in range(3):
        scheduler.tick()
    assert status(scheduler, "w") == status(scheduler, "x") == "queued"  # not "running, epoch 0" forever
    assert len(engine.submitted) == 1  # w holds the one training slot while Ray waits
    scheduler.cancel("w")
    assert status(scheduler, "w") == "cancelled" and engine.killed == [0]  # no grace period, no stop file
    assert not (scheduler.runs_dir / "run-w").exists()
    engine.placeable = True
    scheduler.tick()
    scheduler.tick()
    assert status(scheduler, "x") == "running"


def test_a_worker_with_another_yolocls_version_refuses_the_job_and_says_it_started(tmp_path):
    from yolocls.studio.worker import run_prepare

    started = tmp_path / "job.started"
    result = run_prepare({"source": str(tmp_path), "out": str(tmp_path / "out"), "started_file": str(started),
                          "studio_version": "0.0.0-elsewhere"}, str(tmp_path / "job.log"))
    assert result.ok is False and "the studio 0.0.0-elsewhere" in (result.error or "")
    assert started.is_file() and "install the same version on every node" in (result.error or "")


def test_a_lost_job_engine_recovers_its_jobs_and_reconnects_after_the_pause(scheduler):
    """The Ray driver (or the cluster's head) gone: training interrupted, deployments queued again, a job handed
    over but not started resubmitted once the engine is back; no reconnect attempt before YOLOCLS_RECONNECT_S."""
    import time

    engine = scheduler.engine
    scheduler.settings.reconnect_s = 0.3
    add_job(scheduler, "t", JobKind.TRAIN)
    add_job(scheduler, "d", JobKind.DEPLOY, model="m")
    scheduler.tick()
    scheduler.tick()
    assert status(scheduler, "t") == status(scheduler, "d") == "running"
    engine.lost, engine.lost_at = "the Ray driver process ended", time.monotonic()
    scheduler.tick()
    assert status(scheduler, "t") == "interrupted" and status(scheduler, "d") == "queued"
    with scheduler.db.session() as session:
        job = session.get(JobRow, "t")
        assert job is not None and "job engine was lost" in (job.error or "")
    scheduler.tick()
    assert engine.reconnects == 0 and len(engine.submitted) == 2  # nothing submitted while it is away
    time.sleep(0.35)
    scheduler.tick()
    assert engine.reconnects == 1
    scheduler.tick()
    assert status(scheduler, "d") == "running" and len(engine.submitted) == 3


def test_auto_resume_requeues_a_lost_job_with_a_checkpoint_up_to_the_limit(scheduler):
    import zipfile

    from yolocls.training.rundir import weights_path

    scheduler.settings.auto_resume = 1
    add_job(scheduler, "r", JobKind.TRAIN)
    scheduler.tick()
    scheduler.tick()
    last = weights_path(scheduler.runs_dir / "run-r", "last")
    last.parent.mkdir(parents=True)
    with zipfile.ZipFile(last, "w") as checkpoint:  # torch saves zip archives: a complete one
        checkpoint.writestr("data.pkl", b"weights")
    scheduler.engine.results[0] = TrainResult.crashed("the job's worker process ended: NodeDiedError: gone")
    scheduler.tick()
    assert status(scheduler, "r") == "queued"  # resumed by itself, once
    scheduler.tick()
    scheduler.tick()
    assert status(scheduler, "r") == "running"
    assert scheduler.engine.submitted[-1][1][0]["resume"].endswith("run-r")
    scheduler.engine.results[1] = TrainResult.crashed("the job's worker process ended: NodeDiedError: gone")
    scheduler.tick()
    assert status(scheduler, "r") == "interrupted"  # the limit reached: it waits for the user


def test_a_cpu_job_reserves_a_node_share_and_an_unplaced_job_says_why(scheduler, monkeypatch):
    from yolocls.studio import scheduler as scheduler_module

    monkeypatch.setattr(scheduler_module, "WAITING_AFTER_S", 0.0)
    engine = scheduler.engine
    engine.placeable = False
    engine.resources = Resources(nodes=[{"CPU": 4.0, "GPU": 2.0}], free={"CPU": 0.0, "GPU": 2.0})
    add_job(scheduler, "c", JobKind.TRAIN, device="cpu")
    scheduler.tick()
    scheduler.tick()
    assert engine.cpus_asked == [4] and engine.gpus_asked == [0]  # all of the node's CPUs, no GPU
    assert engine.submitted[0][1][0]["cpu_threads"] == 4
    assert status(scheduler, "c") == "queued"
    assert scheduler.waiting["c"] == "waiting for 4 CPUs to be free on one node (free now: 0 CPUs and 2 GPUs)"
    with scheduler.db.session() as session:
        stages = [e.data for e in session.query(EventRow).filter(EventRow.kind == "progress")]
    assert stages == [{"stage": "waiting", "reason": scheduler.waiting["c"]}]  # said once, not every tick
