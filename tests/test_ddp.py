"""Multi-GPU (DDP) training runs the trainer in other processes, rebuilt by Ultralytics from a state file it writes
with cloudpickle (the trainer's class, arguments, model and callbacks). No GPU here, so the state is written with
Ultralytics' own `generate_ddp_file` and the file it generates runs under `torch.distributed.run` on 2 CPU ranks
(gloo): what each rank does with yolocls' trainer subclass and callbacks is what it does on GPUs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port
from yolocls.training.rundir import EPOCHS_LOG, STOP_FILE, load_run_record, read_epochs

pytestmark = pytest.mark.slow

# torch.distributed.run sets RANK/WORLD_SIZE/MASTER_*; Ultralytics' own launcher does the same, and its trainer
# joins the process group itself on GPUs (`_setup_ddp`, CUDA only): on CPU ranks, join it here with gloo. After
# the last epoch, Ultralytics' final validation of best.pt asks CUDA for the rank's device (validator.py hard-codes
# it under DDP): on CPU ranks the run ends there, after everything these tests check.
RANK_MAIN = """
import runpy, sys, traceback
import torch.distributed as dist
dist.init_process_group("gloo")
try:
    runpy.run_path(sys.argv[1], run_name="__main__")
except RuntimeError as exc:
    frames = [f.name for f in traceback.extract_tb(exc.__traceback__)]
    if "final_eval" not in frames or "NVIDIA driver" not in str(exc):
        raise
    print("final validation skipped: it needs CUDA under DDP", file=sys.stderr)
"""


def ddp_state(data: Path, runs: Path, epochs: int) -> tuple[str, Path]:
    """A run set up as `yolocls train` sets it up (run.json, arguments, callbacks), handed to Ultralytics'
    DDP file generator; the generated script and the run folder."""
    from ultralytics.utils import callbacks as ultralytics_callbacks
    from ultralytics.utils.dist import generate_ddp_file

    from yolocls.training import runner
    from yolocls.training.callbacks import run_callbacks
    from yolocls.training.interrupts import InterruptGuard
    from yolocls.training.trainer import YoloclsTrainer

    opts = runner.TrainOptions(data=data, epochs=epochs, imgsz=32, batch=8, device="cpu", pretrained=False,
                               runs_dir=runs, name="ddp", quiet=True, report=False, aug="none",
                               set=["warmup_epochs=0", "workers=0"], stop_file=True)
    record, run_dir, model_path, train_args = runner._new_run(opts)
    hooks = ultralytics_callbacks.get_default_callbacks()
    for event, callback in run_callbacks(record, run_dir, True, InterruptGuard(), stop_file=True):
        hooks[event].append(callback)
    trainer = YoloclsTrainer(overrides={**runner.ultralytics_args(train_args), "model": model_path}, _callbacks=hooks)
    return generate_ddp_file(trainer), run_dir


def run_ranks(script: str, tmp_path: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    main = tmp_path / "rank_main.py"
    main.write_text(RANK_MAIN)
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                           str(free_port()), str(main), script], capture_output=True, text=True, timeout=timeout)


def test_two_ranks_rebuilt_from_ultralytics_ddp_state_record_each_epoch_once(learnable_dataset, tmp_path):
    script, run_dir = ddp_state(learnable_dataset, tmp_path / "runs", epochs=2)
    done = run_ranks(script, tmp_path)
    assert done.returncode == 0, done.stderr[-12000:]
    lines = (run_dir / EPOCHS_LOG).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]  # once per epoch (rank 0), not once per rank
    epochs = read_epochs(run_dir)
    n_val = sum(1 for f in (learnable_dataset / "val").rglob("*") if f.is_file())
    assert [e.images for e in epochs] == [n_val, n_val], "metrics of every validation image, from both ranks"
    record = load_run_record(run_dir)
    assert record is not None and record.epochs_completed == 2


def test_a_stop_file_ends_every_rank_after_the_epoch_in_progress(learnable_dataset, tmp_path):
    script, run_dir = ddp_state(learnable_dataset, tmp_path / "runs", epochs=50)
    (run_dir / STOP_FILE).write_text(json.dumps({"reason": "test"}))  # asked before the first epoch ends
    done = run_ranks(script, tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]  # no rank left waiting in a collective
    assert [e.epoch for e in read_epochs(run_dir)] == [1]
    assert (run_dir / "weights" / "last.pt").is_file()  # the epoch's checkpoint, to resume from
