"""The job state machine and the kinds table, without Ray or a studio process (the fast layer)."""

from __future__ import annotations

import pytest

from yolocls.studio.jobmodel import (
    KINDS,
    TERMINAL,
    TRANSITIONS,
    InvalidTransition,
    JobKind,
    JobStatus,
    PrepareResult,
    TrainResult,
    WorkSpec,
    check_transition,
)
from yolocls.studio.jobs import EngineError, check_workers


@pytest.mark.parametrize("old, new", [("queued", "running"), ("queued", "cancelled"), ("running", "completed"),
                                      ("running", "interrupted"), ("running", "queued"), ("interrupted", "queued"),
                                      ("cancelled", "queued")])
def test_allowed_transitions(old, new):
    assert check_transition(old, new) == JobStatus(new)


@pytest.mark.parametrize("old, new", [("completed", "queued"), ("failed", "running"), ("queued", "completed"),
                                      ("cancelled", "running"), ("completed", "failed"), ("queued", "interrupted")])
def test_forbidden_transitions_are_409(old, new):
    with pytest.raises(InvalidTransition, match=f"a {old} job cannot become {new}") as info:
        check_transition(old, new)
    assert info.value.status_code == 409


def test_every_status_has_its_transitions_and_terminal_ones_only_resume():
    assert set(TRANSITIONS) == set(JobStatus)
    for status in TERMINAL:
        assert TRANSITIONS[status] <= {JobStatus.QUEUED}
    assert f"{JobStatus.RUNNING}" == "running" and JobStatus("failed") is JobStatus.FAILED


def test_every_kind_names_a_worker_that_exists_and_a_missing_one_stops_the_start():
    assert set(KINDS) == set(JobKind)
    check_workers()
    with pytest.raises(EngineError, match="no worker function run_nothing"):
        check_workers((WorkSpec("run_nothing", PrepareResult),))


def test_results_are_typed_and_a_crash_is_a_failure_of_the_kind():
    assert TrainResult.model_validate({"status": "completed", "run": "r"}).status == "completed"
    assert TrainResult.crashed("boom") == TrainResult(status="failed", error="boom", lost=True)
    assert PrepareResult.crashed("boom").ok is False
    with pytest.raises(ValueError):
        TrainResult.model_validate({"status": "running"})


@pytest.mark.parametrize("device, gpus", [("cpu", 0), ("auto", 1), ("0", 1), ("1", 1), ("0,1", 2), ("cuda:0,1,2", 3)])
def test_gpus_a_training_job_asks_for(device, gpus):
    from yolocls.studio.jobmodel import gpus_wanted

    assert gpus_wanted(device) == gpus


@pytest.mark.parametrize("device, assigned, inside", [("1", 1, "0"), ("2,3", 2, "0,1"), ("cuda:1", 1, "0"),
                                                      ("auto", 1, "auto"), ("cpu", 0, "cpu"), ("1", 0, "1")])
def test_explicit_gpu_ids_are_renumbered_as_ray_shows_them(device, assigned, inside):
    from yolocls.studio.jobmodel import device_in_worker

    assert device_in_worker(device, assigned) == inside


def test_joining_a_cluster_with_a_ray_token_turns_token_auth_on(tmp_path):
    from yolocls.core.rayauth import token_auth_env

    assert token_auth_env({}, tmp_path) == {}
    assert token_auth_env({"RAY_AUTH_TOKEN": "t"}, tmp_path) == {"RAY_AUTH_MODE": "token"}
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("t")
    assert token_auth_env({}, tmp_path) == {"RAY_AUTH_MODE": "token"}
    assert token_auth_env({"RAY_AUTH_MODE": "disabled"}, tmp_path) == {}  # the user's choice stays


def test_a_jobs_worker_gets_the_studios_settings_but_not_its_key():
    from yolocls.studio.jobs import worker_env

    env = worker_env({"YOLOCLS_WEIGHTS_DIR": "/w", "YOLO_OFFLINE": "true", "YOLOCLS_API_KEY": "secret",
                      "OPENCV_IO_MAX_IMAGE_PIXELS": "50000000", "HOME": "/root", "PATH": "/bin"})
    assert env == {"YOLOCLS_WEIGHTS_DIR": "/w", "YOLO_OFFLINE": "true", "OPENCV_IO_MAX_IMAGE_PIXELS": "50000000"}
