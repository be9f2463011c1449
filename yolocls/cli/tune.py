"""`yolocls tune`: flags and printed output."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_tune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="hyper-parameter sweep on Ray Tune (early stopping of poor trials)",
                       description="N trials over a search space (presets.yaml `search_spaces`, a YOLOCLS_PRESETS "
                                   "file, or --space FILE.yaml), poor trials stopped early by Ray Tune's ASHA, "
                                   "trials placed by Ray on free CPUs/GPUs. Every trial is a normal run "
                                   "(runs/<sweep>-<trial>); RUNS_DIR/NAME/ holds trials.csv, sweep.json and "
                                   "best_preset.yaml (use it: YOLOCLS_PRESETS=.../best_preset.yaml).")
    p.add_argument("data", type=Path, metavar="DATASET", help="prepared dataset folder (from `yolocls prepare`)")
    p.add_argument("--trials", type=int, default=8, help="number of trials (default 8)")
    p.add_argument("--space", default="default", help="search space: a name (default, small-images, yours) or a "
                   "YAML file of parameter: {loguniform|uniform|randint: [low, high]} | {choice: [...]}")
    p.add_argument("--preset", default="small-fast", help="the preset every trial starts from (default small-fast)")
    p.add_argument("--epochs", type=int, help="epochs per trial (the most a trial gets)")
    p.add_argument("--imgsz", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--no-pretrained", action="store_true", help="train from scratch (model YAML)")
    p.add_argument("--balance", choices=("auto", "none", "weights", "sampler"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="fixed for every trial")
    p.add_argument("--no-early-stop", action="store_true", help="run every trial to the end (a baseline)")
    p.add_argument("--grace", type=int, default=1, help="epochs every trial gets before ASHA may stop it")
    p.add_argument("--cpus-per-trial", type=int, default=1)
    p.add_argument("--gpus-per-trial", type=float, default=0, help="GPUs per trial (0: train on CPU)")
    p.add_argument("--concurrent", type=int, help="trials at once (default: as free resources allow)")
    p.add_argument("--ray-address", help="run the trials on this Ray cluster (default: a local Ray)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled configurations")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--name", help="the sweep's name (default <dataset>-sweep; never overwritten)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    from yolocls.training.sweep import SweepOptions, sweep

    train = {"preset": args.preset, "epochs": args.epochs, "imgsz": args.imgsz, "batch": args.batch,
             "pretrained": not args.no_pretrained, "balance": args.balance, "set": args.set,
             "device": "0" if args.gpus_per_trial > 0 else "cpu"}
    result = sweep(SweepOptions(data=args.data.expanduser().resolve(), trials=args.trials, space=args.space,
                                train=train, early_stop=not args.no_early_stop, grace=args.grace,
                                concurrent=args.concurrent, cpus_per_trial=args.cpus_per_trial,
                                gpus_per_trial=args.gpus_per_trial, ray_address=args.ray_address,
                                runs_dir=args.runs_dir, name=args.name, seed=args.seed, quiet=args.quiet))
    print(f"{'run':40} {'val top-1':>9} {'epochs':>6}  settings")
    for t in result.trials:
        state = "stopped early" if t.stopped_early else (f"failed: {t.error}" if t.error else "")
        top1 = f"{t.val_top1:9.4f}" if t.val_top1 is not None else f"{'-':>9}"
        print(f"{t.run:40} {top1} {t.epochs:6d}  {t.config} {state}")
    print(f"{len(result.trials)} trials in {result.seconds:.0f} s")
    if result.best is None:
        print("no trial finished an epoch")
        return 1
    print(f"best: {result.best.run} (val top-1 {result.best.val_top1:.4f}) with {result.best.config}")
    print(f"as a preset: YOLOCLS_PRESETS={result.folder / 'best_preset.yaml'} yolocls train --preset "
          f"{result.folder.name}-best ...")
    return 0
