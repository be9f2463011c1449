"""`yolocls train` on real tiny data (CPU, imgsz 32): run record, precedence, fallbacks, offline, resume."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from yolocls.cli import main
from yolocls.core.errors import ConfigError
from yolocls.training.presets import get_preset, load_presets, resolve_args
from yolocls.training.train_args import parse_set_values

REPO = Path(__file__).resolve().parent.parent


def yolocls(*args: str, env: dict | None = None, timeout: int = 600, prefix: list[str] | None = None):
    return subprocess.run([*(prefix or []), sys.executable, "-m", "yolocls", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_trained_run_folder_and_run_json_are_complete(trained_run):
    record = json.loads((trained_run / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["preset"] == "small-fast" and record["model"] == "yolov8n-cls"
    assert record["weights_source"] == "scratch" and record["weights"] == "yolov8n-cls.yaml"
    assert record["classes"] == ["blue", "green", "red"]
    assert record["args"]["imgsz"] == 32 and record["args"]["epochs"] == 8 and record["args"]["device"] == "cpu"
    assert record["args"]["auto_augment"] is None  # --aug none overrides the preset's light set
    assert record["epochs_completed"] == 8
    assert set(record["versions"]) >= {"yolocls", "ultralytics", "torch"}
    assert record["ended"] >= record["started"]
    rows = (trained_run / "results.csv").read_text().strip().splitlines()
    assert len(rows) == 9
    best_epoch = record["best_epoch"]
    assert 1 <= best_epoch <= 8 and 0 <= record["best_metric"]["top1"] <= 1
    assert (trained_run / "weights" / "best.pt").is_file() and (trained_run / "weights" / "last.pt").is_file()
    dataset = Path(record["dataset"])
    assert (dataset / "manifest.json").is_file() and len(record["manifest_sha256"]) == 64


def test_every_epoch_records_dashboard_metrics_and_a_preview(trained_run):
    from yolocls.training.rundir import read_epochs, read_preview, read_results

    epochs = read_epochs(trained_run)
    results = read_results(trained_run)
    assert [e.epoch for e in epochs] == list(range(1, 9))
    for row, res in zip(epochs, results):
        assert row.top1 == pytest.approx(res["metrics/accuracy_top1"], abs=1e-5)  # same validation
        assert row.val_loss == pytest.approx(res["val/loss"], abs=1e-4)
        for value in (row.precision, row.recall, row.f1, row.avg_confidence):
            assert value is not None and 0 <= value <= 1
        assert row.images == 18 and row.seconds and row.seconds > 0 and row.lr is not None
        assert row.train_loss == pytest.approx(res["train/loss"], abs=1e-3)
    if epochs[-1].top1 == 1.0:  # a perfect epoch has perfect macro scores
        assert epochs[-1].precision == epochs[-1].recall == epochs[-1].f1 == 1.0
    preview = read_preview(trained_run)
    assert preview is not None and 3 <= len(preview.images) <= 32
    assert {im.true for im in preview.images} == {"blue", "green", "red"}
    assert all(im.path.startswith("val/") for im in preview.images)
    assert [e.epoch for e in preview.epochs] == list(range(1, 9))
    assert all(len(e.pred) == len(preview.images) and all(0 <= c <= 1 for c in e.confidence) for e in preview.epochs)
    from yolocls.training.batch_progress import read_progress

    batches = read_progress(trained_run)  # progress within an epoch, last written at the final batch
    assert batches is not None and batches.epoch == batches.epochs == 8
    assert batches.batch == batches.batches > 0 and batches.eta_s == 0 and batches.seconds > 0


def test_presets_are_data_and_listed(capsys):
    book = load_presets()
    assert {"small-fast", "balanced", "accurate"} <= set(book.presets)
    assert {"none", "light", "crops", "standard", "heavy"} == set(book.augmentations)
    small = get_preset("small-fast")
    assert small.model == "yolov8n-cls" and small.args["imgsz"] == 320
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "small-fast" in out and "imgsz=320" in out and "auto_augment=randaugment" in out


def test_flag_and_set_precedence():
    preset = get_preset("small-fast")
    overrides = parse_set_values(["lr0=0.05", "cos_lr=false", "imgsz=96", "weight_decay=5e-4"])
    assert overrides["weight_decay"] == 0.0005  # YAML 1.1 would read 5e-4 as a string
    args = resolve_args(preset, "heavy", {"epochs": 3, "imgsz": 64, "batch": None}, overrides)
    assert args["epochs"] == 3  # flag beats preset
    assert args["imgsz"] == 96  # --set beats flag
    assert args["batch"] == 32  # unset flag keeps preset
    assert args["lr0"] == 0.05 and args["cos_lr"] is False
    assert args["auto_augment"] == "autoaugment"  # --aug heavy replaces the preset's light set


@pytest.mark.parametrize("pairs, message", [
    (["bogus=1"], "--set bogus: unknown training argument (or one that names a file, which is never accepted); "
                  "valid keys:"),
    (["lr0"], "expected KEY=VALUE"),
    (["data=/x"], "set by yolocls itself"),
    # path-valued Ultralytics arguments are unpickled or loaded by Ultralytics: never accepted
    (["pretrained=/tmp/x.pt"], "--set pretrained: unknown training argument (or one that names a file"),
    (["cfg=/tmp/x.yaml"], "--set cfg: unknown training argument"),
    (["distill_model=/tmp/x.pt"], "--set distill_model: unknown training argument"),
    (["resume=/tmp/x.pt"], "--set resume: set by yolocls itself"),
    (["imgsz=100000"], "--set imgsz=100000: Input should be less than or equal to 4096"),
    (["imgsz=abc"], "--set imgsz='abc': Input should be a valid integer"),
    (["lr0=-1"], "--set lr0=-1: Input should be greater than 0"),
    (["auto_augment=/etc/passwd"], "--set auto_augment='/etc/passwd'"),
    (["epochs="], "--set epochs: a value is required"),
])
def test_bad_set_is_rejected_with_valid_keys(pairs, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_set_values(pairs)


@pytest.mark.parametrize("args, message", [
    (["--data", "/nonexistent/ds"], "dataset folder not found"),
    (["--preset", "huge"], "unknown preset 'huge'; valid presets: small-fast, balanced, accurate"),
    (["--set", "nope=1"], "--set nope: unknown training argument"),
    (["--device", "3"], "GPU [3] not available"),
    (["--weights", "/nonexistent.pt"], "--weights /nonexistent.pt: file not found"),
    (["--name", "model"], "--name model is rewritten by Ultralytics"),
    (["--epochs", "0"], "--epochs 0: Input should be greater than or equal to 1"),
])
def test_train_bad_inputs_exit_2_with_one_line(learnable_dataset, tmp_path, capsys, args, message):
    argv = ["train", "--data", str(learnable_dataset), "--runs-dir", str(tmp_path / "runs"), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list((tmp_path / "runs").glob("*/run.json")) if (tmp_path / "runs").exists() else True


def test_train_rejects_folder_that_is_not_a_prepared_dataset(make_class_folders, tmp_path, capsys):
    src = make_class_folders(per_class=3)
    assert main(["train", "--data", str(src), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "not a prepared dataset" in capsys.readouterr().err


@pytest.mark.integration
def test_train_offline_in_network_namespace_with_scratch_fallback_message(tmp_path):
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to create a network namespace")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare -n not permitted here: {probe.stderr.decode().strip()}")
    from tests.helpers import make_learnable_dataset

    # non-ASCII class names make Ultralytics look for Arial.Unicode.ttf, which it would download
    data = make_learnable_dataset(tmp_path / "d", classes=("café", "naïve", "日本"), per_class=12)
    config = tmp_path / "ycfg"  # a fresh Ultralytics config dir: no cached fonts or settings
    res = yolocls("train", "--data", data, "--runs-dir", tmp_path / "runs", "--name", "offline",
                  "--epochs", "1", "--imgsz", "32", "--no-report", prefix=["unshare", "-n"],
                  env={"YOLO_CONFIG_DIR": str(config), "YOLOCLS_WEIGHTS_DIR": str(tmp_path / "noweights")},
                  timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "no pretrained yolov8n-cls.pt found" in res.stderr
    assert "accuracy will be noticeably lower" in res.stderr and "YOLOCLS_WEIGHTS_DIR" in res.stderr
    assert "warning: no CUDA GPU found, training on CPU (roughly" in res.stderr
    record = json.loads((tmp_path / "runs" / "offline" / "run.json").read_text())
    assert record["status"] == "completed" and record["weights_source"] == "scratch"
    assert record["classes"] == ["café", "naïve", "日本"]
    assert (tmp_path / "runs" / "offline" / "results.png").is_file()  # plots were drawn without a download


@pytest.mark.integration
def test_train_uses_weights_from_weights_dir_and_never_overwrites_runs(learnable_dataset, trained_run, tmp_path):
    wdir = tmp_path / "weights"
    wdir.mkdir()
    shutil.copy(trained_run / "weights" / "best.pt", wdir / "yolov8n-cls.pt")
    for _ in range(2):
        res = yolocls("train", "--data", learnable_dataset, "--runs-dir", tmp_path / "runs", "--name", "ft",
                      "--epochs", "1", "--imgsz", "32", "--no-report", "--quiet",
                      env={"YOLOCLS_WEIGHTS_DIR": str(wdir)})
        assert res.returncode == 0, res.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ft", "ft-2"]
    record = json.loads((tmp_path / "runs" / "ft-2" / "run.json").read_text())
    assert record["weights_source"] == "weights-dir" and record["weights"] == str(wdir / "yolov8n-cls.pt")


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_is_marked_and_resumable(learnable_dataset, tmp_path, sig):
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "yolocls", "train", "--data", str(learnable_dataset),
                             "--runs-dir", str(runs), "--name", "int", "--epochs", "12", "--imgsz", "32",
                             "--batch", "8", "--set", "patience=100", "--no-report", "--no-pretrained"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    record_path = runs / "int" / "run.json"
    deadline = time.time() + 300
    while time.time() < deadline:
        if record_path.exists() and json.loads(record_path.read_text()).get("epochs_completed", 0) >= 1:
            break
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    record = json.loads(record_path.read_text())
    assert record["status"] == "interrupted" and "--resume" in record["error"]
    assert record["ended"] is not None and record["epochs_completed"] >= 1
    done_before = record["epochs_completed"]
    res = yolocls("train", "--resume", runs / "int", "--no-report", "--quiet", timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    record = json.loads(record_path.read_text())
    assert record["status"] == "completed" and record["resumed"] == 1
    assert record["epochs_completed"] == 12 > done_before


def test_train_refuses_dataset_whose_split_lost_a_class(learnable_dataset, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(learnable_dataset, broken)
    shutil.rmtree(broken / "val" / "green")
    assert main(["train", "--data", str(broken), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "val: class folders differ from manifest.json (missing: ['green']" in err and "labels would shift" in err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_checkpoint_write_is_raised_after_it(tmp_path, sig):
    """What YoloclsTrainer.save_model does around Ultralytics' write: a signal half-way is raised after it,
    and the previous checkpoint is kept until the new one is complete."""
    import torch

    from yolocls.training.interrupts import InterruptGuard, protected_write

    last = tmp_path / "last.pt"
    torch.save({"epoch": 1}, last)
    guard = InterruptGuard()
    guard.install()
    try:
        with pytest.raises(KeyboardInterrupt), protected_write([last]):
            assert not last.exists() and (tmp_path / "last.pt.prev").is_file()  # the old one set aside
            with last.open("wb") as fh:
                fh.write(b"first half,")
                os.kill(os.getpid(), sig)
                time.sleep(0.05)
                fh.write(b"second half")
    finally:
        guard.restore()
    assert torch.load(last)["epoch"] == 1  # the new file was not a checkpoint: the previous one is back
    assert not (tmp_path / "last.pt.prev").exists()
    assert signal.getsignal(sig) is not guard._handle


@pytest.mark.parametrize("given, device", [("auto", "auto"), ("CPU", "cpu"), ("0", "0"), ("0,1", "0,1"),
                                           ("cuda:0", "0"), ("cuda:0,1", "0,1"), (" 1 ", "1")])
def test_device_syntax_is_one_check(given, device):
    from yolocls.training.hyperparams import parse_device

    assert parse_device(given) == device


@pytest.mark.parametrize("given", ["gpu-please", "0,0", "-1", "1e3", "cuda:", "0;1"])
def test_bad_devices_are_refused_naming_the_option(given):
    from yolocls.training.hyperparams import parse_device

    with pytest.raises(ConfigError, match="device: .* expected auto, cpu, or GPU ids"):
        parse_device(given, "device:")


def test_the_trainer_extends_ultralytics_by_subclassing_only():
    """No assignment to an Ultralytics object's attributes or module functions anywhere in yolocls: hooks are
    methods of training.trainer's subclasses (what DDP workers rebuild), never patches."""
    import ast

    from ultralytics.models.yolo.classify import ClassificationTrainer, ClassificationValidator

    from yolocls.training.trainer import RecordingValidator, YoloclsTrainer

    patches = []
    for path in (REPO / "yolocls").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        from_ultralytics = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
                            if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names
                            if (getattr(node, "module", None) or alias.name).startswith("ultralytics")}
        suspects = from_ultralytics | {"trainer", "validator"}
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
            for target in targets:
                for t in (target.elts if isinstance(target, ast.Tuple) else [target]):
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in suspects:
                        patches.append(f"{path.relative_to(REPO)}:{node.lineno} {t.value.id}.{t.attr}")
    assert not patches, patches
    assert YoloclsTrainer.save_model is not ClassificationTrainer.save_model
    assert YoloclsTrainer.final_eval is not ClassificationTrainer.final_eval
    assert issubclass(RecordingValidator, ClassificationValidator)


def test_a_signal_while_the_record_is_finalised_is_held():
    from yolocls.training.interrupts import InterruptGuard

    guard = InterruptGuard()
    guard.install()
    try:
        with guard.deferred(raise_after=False):  # what train() does around _finish after a first Ctrl-C
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            finished = True
    finally:
        guard.restore()
    assert finished


def test_best_epoch_is_the_last_of_tied_epochs_as_ultralytics_saves_best_pt():
    from yolocls.training.rundir import best_from_results

    rows = [{"epoch": e, "metrics/accuracy_top1": t1, "metrics/accuracy_top5": 1.0}
            for e, t1 in [(1, 0.5), (2, 0.7), (3, 0.7), (4, 0.6)]]
    assert best_from_results(rows)[0] == 3


@pytest.mark.integration
def test_early_stop_with_ties_records_the_truth(learnable_dataset, tmp_path, capsys):
    """SGD at lr0 0.9 is stuck at chance: val top-1 ties every epoch, and patience 2 stops the run early."""
    runs = tmp_path / "runs"
    code = main(["train", "--data", str(learnable_dataset), "--runs-dir", str(runs), "--name", "es", "--epochs", "10",
                 "--imgsz", "32", "--batch", "8", "--device", "cpu", "--no-pretrained", "--aug", "none", "--no-report",
                 "--set", "patience=2", "--set", "lr0=0.9", "--set", "optimizer=SGD", "--set", "warmup_epochs=0"])
    assert code == 0
    err = capsys.readouterr().err
    record = json.loads((runs / "es" / "run.json").read_text())
    rows = [ln.split(",") for ln in (runs / "es" / "results.csv").read_text().strip().splitlines()]
    header, rows = [h.strip() for h in rows[0]], rows[1:]
    assert record["status"] == "completed" and record["epochs_completed"] == len(rows) < 10  # stopped early
    top1 = [float(r[header.index("metrics/accuracy_top1")]) for r in rows]
    best = max(top1)
    assert record["best_epoch"] == max(i + 1 for i, v in enumerate(top1) if v == best)  # ties: the last one
    assert f"epoch {len(rows)}/10" in err and f"epoch {len(rows) + 1}/10" not in err  # no phantom epoch
    last = dict(zip(header, rows[-1]))
    assert record["last_metrics"]["metrics/accuracy_top1"] == pytest.approx(float(last["metrics/accuracy_top1"]))


@pytest.mark.integration
def test_a_time_budget_run_records_the_epochs_fitted_to_it(learnable_dataset, tmp_path, capsys):
    """`time` (hours) replaces epochs: Ultralytics fits the epochs to the budget after each one; run.json follows
    (epochs planned = the fitted count, not the preset's 100), and the CPU warning names the budget."""
    runs = tmp_path / "runs"
    code = main(["train", "--data", str(learnable_dataset), "--runs-dir", str(runs), "--name", "tb", "--preset",
                 "cpu-small", "--imgsz", "32", "--batch", "8", "--device", "cpu", "--no-pretrained", "--no-report",
                 "--set", "time=0.003", "--set", "warmup_epochs=0"])
    assert code == 0
    err = capsys.readouterr().err
    assert "training on CPU (a time budget of 11s" in err and "100 epochs" not in err, err[-2000:]
    record = json.loads((runs / "tb" / "run.json").read_text())
    epochs = (runs / "tb" / "epochs.jsonl").read_text().splitlines()
    assert record["status"] == "completed" and record["args"]["time"] == 0.003
    assert record["epochs_completed"] == len(epochs) == record["epochs_planned"] < 100, record


@pytest.mark.integration
def test_ctrl_c_after_the_last_epoch_leaves_a_completed_run(learnable_dataset, tmp_path):
    """A signal during final validation / checkpoint stripping: the run is complete, not 'interrupted'."""
    runs = tmp_path / "runs"
    record_path = runs / "fin" / "run.json"
    proc = subprocess.Popen([sys.executable, "-m", "yolocls", "train", "--data", str(learnable_dataset),
                             "--runs-dir", str(runs), "--name", "fin", "--epochs", "3", "--imgsz", "32", "--batch",
                             "8", "--no-report", "--no-pretrained", "--aug", "none", "--set", "warmup_epochs=0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        try:
            if json.loads(record_path.read_text()).get("epochs_completed") == 3:
                break  # the last epoch is recorded: Ultralytics now strips checkpoints and validates best.pt
        except (OSError, ValueError):
            pass
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]  # the signal landed while training was still running
    record = json.loads(record_path.read_text())
    assert record["status"] == "completed" and record["epochs_completed"] == 3 and record["error"] is None
    res = yolocls("train", "--resume", runs / "fin", "--no-report")
    assert res.returncode == 2 and "nothing to resume" in res.stderr and "Traceback" not in res.stderr


def test_a_checkpoint_cut_by_a_killed_process_is_restored(tmp_path):
    """SIGKILL or power loss while Ultralytics rewrites last.pt in place: the previous version survives."""
    import zipfile

    from yolocls.training.rundir import repair_checkpoints, run_weights

    weights = tmp_path / "run" / "weights"
    weights.mkdir(parents=True)
    with zipfile.ZipFile(weights / "last.pt", "w") as zf:  # torch checkpoints are zip archives
        zf.writestr("archive/data.pkl", b"epoch 3")
    good = (weights / "last.pt").read_bytes()
    code = ("import os, sys\n"
            "from pathlib import Path\n"
            "from yolocls.training.rundir import keep_previous\n"
            f"last = Path({str(weights / 'last.pt')!r})\n"
            "with keep_previous([last]):\n"
            "    last.write_bytes(b'PK\\x03\\x04 half of epoch 4')\n"
            "    os._exit(137)  # killed mid-write\n")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 137
    assert (weights / "last.pt").read_bytes() != good and (weights / "last.pt.prev").is_file()
    from yolocls.training.rundir import checkpoint_exists

    assert checkpoint_exists(weights / "last.pt")  # resumable (what the studio's resume checks)
    # a reader (report, export) uses the complete copy where it is, and writes nothing
    before = sorted((p.name, p.read_bytes()) for p in weights.iterdir())
    assert run_weights(tmp_path / "run", "last", "evaluate")[1].read_bytes() == good
    assert sorted((p.name, p.read_bytes()) for p in weights.iterdir()) == before
    assert repair_checkpoints(tmp_path / "run") == ["last.pt"]  # training repairs the folder
    assert (weights / "last.pt").read_bytes() == good and not (weights / "last.pt.prev").exists()
    (weights / "best.pt").write_bytes(good)
    assert run_weights(tmp_path / "run", "last", "resume")[1].read_bytes() == good
