"""`yolocls tune`: a hyper-parameter sweep on Ray Tune. N trials over a search space (data: presets.yaml's
`search_spaces`, a YOLOCLS_PRESETS file, or --space FILE), poor trials stopped early by Ray Tune's ASHA scheduler,
trials placed by Ray on free CPUs/GPUs (a cluster with --ray-address). Every trial is a normal yolocls run
(runs/<sweep>-<trial>, on the leaderboard); the sweep's folder holds trials.csv, sweep.json and best_preset.yaml,
a presets file with the best trial's settings (use it with YOLOCLS_PRESETS=...)."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from yolocls.core.fs import atomic_path, atomic_write_text
from yolocls.core.limits import CPU_THREADS_ENV, available_cpus
from yolocls.core.rayauth import token_auth_env
from yolocls.training.callbacks import StopRequested, log
from yolocls.training.presets import SearchSpace, get_preset
from yolocls.training.rundir import unique_run_dir
from yolocls.training.space import load_space
from yolocls.training.train_args import parse_set_values

METRIC = "val_top1"


class SweepOptions(BaseModel):
    data: Path
    trials: int = Field(default=8, ge=1, le=1000)
    space: str | dict[str, dict[str, list[Any]]] = Field(
        default="default", description="A search space name, a YAML file holding `params:`, or the params themselves")
    train: dict[str, Any] = Field(default_factory=dict, description="TrainOptions every trial starts from")
    early_stop: bool = Field(default=True, description="ASHA; off: every trial runs all its epochs")
    grace: int = Field(default=1, ge=1, description="Epochs every trial gets before it can be stopped")
    concurrent: int | None = Field(default=None, ge=1, description="Trials at once (default: as resources allow)")
    cpus_per_trial: int = Field(default=1, ge=1)
    gpus_per_trial: float = Field(default=0, ge=0)
    ray_address: str | None = None
    runs_dir: Path = Path("runs")
    name: str | None = None
    seed: int = 0
    quiet: bool = False


def tune_space(space: SearchSpace) -> dict[str, Any]:
    from ray import tune

    make = {"loguniform": lambda v: tune.loguniform(*v), "uniform": lambda v: tune.uniform(*v),
            "randint": lambda v: tune.randint(v[0], v[1] + 1), "choice": tune.choice}
    return {name: make[kind](values) for name, dim in space.params.items() for kind, values in dim.items()}


def trial_options(base: dict[str, Any], config: dict[str, Any], name: str, runs_dir: Path) -> dict[str, Any]:
    """The TrainOptions of one trial: the base, its sampled values as --set (aug and imgsz as their flags)."""
    sampled = dict(config)
    opts = {**base, "name": name, "runs_dir": runs_dir, "report": False, "quiet": True, "stop_file": True}
    if "aug" in sampled:
        opts["aug"] = sampled.pop("aug")
    if "imgsz" in sampled:
        opts["imgsz"] = int(sampled.pop("imgsz"))
    opts["set"] = [*base.get("set", []), *(f"{k}={v}" for k, v in sampled.items())]
    return opts


def run_trial(config: dict[str, Any], base: dict[str, Any], sweep: str, runs_dir: str, cpus: int) -> None:
    """One trial (in a Ray Tune worker): a normal run that reports val top-1 after every epoch; stopped early by
    ASHA, it ends like a cancelled run (checkpoints intact, run.json `interrupted`)."""
    from ray import tune

    from yolocls.training.runner import TrainOptions, train

    os.environ[CPU_THREADS_ENV] = str(cpus)
    name = f"{sweep}-{tune.get_context().get_trial_id()}"

    def report(trainer: Any) -> None:
        if getattr(trainer, "final_phase", False):
            return
        top1 = float((trainer.metrics or {}).get("metrics/accuracy_top1", 0.0))
        try:
            tune.report({METRIC: top1, "epoch": int(trainer.epoch) + 1, "run": name})
        except SystemExit:  # Ray Tune's way of stopping a trial: end it at this epoch, like a cancel
            raise StopRequested("stopped early by the sweep's scheduler (ASHA)") from None

    try:
        train(TrainOptions.model_validate(trial_options(base, config, name, Path(runs_dir))),
              extra=[("on_fit_epoch_end", report)])
    except StopRequested:
        pass


class TrialRow(BaseModel):
    run: str
    val_top1: float | None = Field(description="Best val top-1 over the trial's epochs")
    epochs: int = Field(description="Epochs it trained (fewer than planned: stopped early)")
    stopped_early: bool
    error: str | None = None
    config: dict[str, Any]


class SweepResult(BaseModel):
    folder: Path
    trials: list[TrialRow]
    best: TrialRow | None
    seconds: float


def _epochs(base: dict[str, Any]) -> int:
    return int(base.get("epochs") or get_preset(base.get("preset", "small-fast")).args.get("epochs", 30))


def _rows(grid: Any, sweep: str, epochs: int) -> list[TrialRow]:
    rows = []
    for result in grid:
        frame = result.metrics_dataframe
        done = int(frame["epoch"].max()) if frame is not None and "epoch" in frame else 0
        best = float(frame[METRIC].max()) if frame is not None and METRIC in frame else None
        error = str(result.error).strip().splitlines()[-1] if result.error else None
        trial = result.path.rsplit("/", 1)[-1] if result.path else "?"
        run = frame["run"].iloc[-1] if frame is not None and "run" in frame else f"{sweep}-{trial}"
        rows.append(TrialRow(run=run, val_top1=best, epochs=done, stopped_early=error is None and done < epochs,
                             error=error, config={k: v for k, v in result.config.items()}))
    return sorted(rows, key=lambda r: -(r.val_top1 or -1))


def _write(folder: Path, result: SweepResult, base: dict[str, Any]) -> None:
    with atomic_path(folder / "trials.csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        keys = sorted({k for r in result.trials for k in r.config})
        writer = csv.writer(fh)
        writer.writerow(["run", "val_top1", "epochs", "stopped_early", "error", *keys])
        for r in result.trials:
            writer.writerow([r.run, r.val_top1, r.epochs, r.stopped_early, r.error or "",
                             *(r.config.get(k) for k in keys)])
    atomic_write_text(folder / "sweep.json", result.model_dump_json(indent=2))
    if result.best is not None:  # a presets file the user owns: YOLOCLS_PRESETS=<it> yolocls train --preset <name>
        preset = get_preset(base.get("preset", "small-fast"))
        config = dict(result.best.config)
        aug = config.pop("aug", base.get("aug") or preset.aug)
        named = {k: base[k] for k in ("epochs", "imgsz", "batch") if base.get(k)}
        fixed = parse_set_values(base.get("set") or [])
        args = {**preset.args, **named, **fixed, **config}
        entry = {"description": f"best of sweep {folder.name} (val top-1 {result.best.val_top1:.4f})",
                 "model": preset.model, "aug": aug, "balance": base.get("balance") or preset.balance, "args": args}
        atomic_write_text(folder / "best_preset.yaml", yaml.safe_dump({"presets": {f"{folder.name}-best": entry}},
                                                                       sort_keys=False))


def sweep(opts: SweepOptions) -> SweepResult:
    import time

    space = load_space(opts.space)
    base = {**opts.train, "data": str(opts.data)}
    get_preset(base.get("preset", "small-fast"))  # an unknown preset: said before Ray starts
    runs_dir = opts.runs_dir.expanduser().resolve()
    folder = unique_run_dir(runs_dir, opts.name or f"{opts.data.name}-sweep")
    log(f"sweep folder: {folder}; {opts.trials} trials over {', '.join(space.params)}", opts.quiet)
    atomic_write_text(folder / "space.yaml", yaml.safe_dump({"params": space.params}, sort_keys=False))
    if opts.ray_address:
        os.environ.update(token_auth_env(dict(os.environ), Path.home()))
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import BasicVariantGenerator

    started = not ray.is_initialized()
    if started:
        ray.init(address=opts.ray_address, num_cpus=None if opts.ray_address else available_cpus(),
                 include_dashboard=False, configure_logging=False, log_to_driver=not opts.quiet)
    t0 = time.monotonic()
    try:
        epochs = _epochs(base)
        scheduler = ASHAScheduler(time_attr="epoch", max_t=epochs, grace_period=min(opts.grace, epochs),
                                  reduction_factor=3) if opts.early_stop else FIFOScheduler()
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, base=base, sweep=folder.name, runs_dir=str(runs_dir),
                                 cpus=opts.cpus_per_trial), {"cpu": opts.cpus_per_trial, "gpu": opts.gpus_per_trial})
        tuner = tune.Tuner(trainable, param_space=tune_space(space), tune_config=tune.TuneConfig(
            metric=METRIC, mode="max", num_samples=opts.trials, scheduler=scheduler,
            search_alg=BasicVariantGenerator(random_state=opts.seed), max_concurrent_trials=opts.concurrent),
            run_config=tune.RunConfig(name="tune", storage_path=str(folder), verbose=0 if opts.quiet else 1))
        rows = _rows(tuner.fit(), folder.name, epochs)
    finally:
        if started:
            ray.shutdown()
    best = next((r for r in rows if r.val_top1 is not None and r.error is None), None)
    result = SweepResult(folder=folder, trials=rows, best=best, seconds=round(time.monotonic() - t0, 1))
    _write(folder, result, base)
    return result
