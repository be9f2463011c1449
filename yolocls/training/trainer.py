"""Ultralytics extended the supported way: a trainer and a validator subclass, passed as `trainer=`.

- `YoloclsTrainer.save_model` / `final_eval`: checkpoint writes are never cut by Ctrl-C/SIGTERM and never leave
  a truncated file (`interrupts.protected_write`); `final_eval` marks the run's final phase.
- `RecordingValidator` keeps each validation's per-batch probabilities and targets, which `EpochRecorder`
  turns into macro precision/recall/F1 without another pass over the data.

Being classes (not patches of an instance or of module functions), they are what Ultralytics rebuilds in
its DDP worker processes from the trainer's class path, and an upgrade that renames a hook fails loudly.
"""

from __future__ import annotations

from copy import copy
from pathlib import Path
from typing import Any

import numpy as np
from ultralytics.models.yolo.classify import ClassificationTrainer, ClassificationValidator

from yolocls.core.limits import available_cpus, cpu_threads_setting
from yolocls.core.runlayout import RUN_RECORD
from yolocls.training.balance import BalancedSampling, BalanceRecord
from yolocls.training.interrupts import active_guard, protected_write
from yolocls.training.rundir import RunRecord, load_run_record


class RecordingValidator(ClassificationValidator):
    """Ultralytics' classification validator, keeping the probabilities and targets of the last validation."""

    recorded_probs: list[np.ndarray]
    recorded_targets: list[np.ndarray]

    def init_metrics(self, model: Any) -> None:
        self.recorded_probs, self.recorded_targets = [], []
        super().init_metrics(model)

    def update_metrics(self, preds: Any, batch: dict[str, Any]) -> None:
        self.recorded_probs.append(preds.detach().float().cpu().numpy())
        self.recorded_targets.append(batch["cls"].detach().cpu().numpy().astype(np.int64))
        super().update_metrics(preds, batch)

    def gather_stats(self) -> None:
        """Multi-GPU (DDP): rank 0 also gathers every rank's recorded probabilities, so the epoch's metrics cover
        the whole validation split (each rank validates its own share)."""
        super().gather_stats()
        from ultralytics.utils import RANK

        if RANK == -1:
            return
        import torch.distributed as dist

        mine = (getattr(self, "recorded_probs", []), getattr(self, "recorded_targets", []))
        if RANK == 0:
            gathered: list[Any] = [None] * dist.get_world_size()
            dist.gather_object(mine, gathered, dst=0)
            self.recorded_probs = [p for probs, _ in gathered for p in probs]
            self.recorded_targets = [t for _, targets in gathered for t in targets]
        else:
            dist.gather_object(mine, None, dst=0)

    def recorded(self, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities [N, C], targets [N]) of the last validation; empty arrays before the first."""
        probs = getattr(self, "recorded_probs", [])
        targets = getattr(self, "recorded_targets", [])
        return (np.concatenate(probs) if probs else np.zeros((0, n_classes)),
                np.concatenate(targets) if targets else np.zeros(0, np.int64))


class RunLoss:
    """Ultralytics' classification loss (cross-entropy, mean over the batch) with the run's per-class weights
    (`--balance weights`) and label smoothing (Ultralytics 8.4 dropped its `label_smoothing` argument)."""

    def __init__(self, weights: Any, label_smoothing: float) -> None:
        self.weights = weights
        self.label_smoothing = label_smoothing

    def __call__(self, preds: Any, batch: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        import torch.nn.functional as F

        preds = preds[1] if isinstance(preds, (list, tuple)) else preds
        weight = self.weights.to(preds.device, preds.dtype) if self.weights is not None else None
        loss = F.cross_entropy(preds, batch["cls"], weight=weight, label_smoothing=self.label_smoothing)
        return loss, {"loss": loss.detach()}


class YoloclsTrainer(ClassificationTrainer):
    """Ultralytics' classification trainer with protected checkpoint writes, a recording validator, the run's loss
    (class weights, label smoothing), and on the CPU every core this process may use for torch (or the threads
    `YOLOCLS_CPU_THREADS` asks for: a studio job's reserved CPUs). Ultralytics' device selection leaves
    min(8, cores - 1) threads (one of two cores: a training epoch of 11,000 Fashion-MNIST images at 64 px took
    27.7 s with 1 thread, 17.4 s with 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.device.type == "cpu":
            import torch

            torch.set_num_threads(cpu_threads_setting() or available_cpus())

    def get_validator(self) -> RecordingValidator:
        return RecordingValidator(self.test_loader, self.save_dir, args=copy(self.args), _callbacks=self.callbacks)

    def save_model(self) -> Any:
        with protected_write([Path(self.last), Path(self.best)]):
            return super().save_model()

    def _record(self) -> RunRecord | None:
        """The run's run.json (read in any process that trains: DDP ranks too); None outside a yolocls run."""
        return load_run_record(Path(self.save_dir)) if Path(self.save_dir, RUN_RECORD).is_file() else None

    def _balance(self) -> BalanceRecord | None:
        record = self._record()
        return record.balance if record is not None else None

    def set_class_weights(self) -> None:
        """Ultralytics' hook for class weights (its detection trainer sets `model.class_weights` here too): with
        `--balance weights` and/or label smoothing, the model's criterion becomes `RunLoss`."""
        record = self._record()
        balance = record.balance if record is not None else None
        weights = balance.weights if balance is not None and balance.mode == "weights" else None
        smoothing = float(record.args.get("label_smoothing") or 0.0) if record is not None else 0.0
        if not weights and not smoothing:
            return
        import torch
        from ultralytics.utils.torch_utils import unwrap_model

        model: Any = unwrap_model(self.model)  # type: ignore[arg-type]  # a module by now
        if weights:
            model.class_weights = torch.tensor(weights, dtype=torch.float32, device=self.device)
        model.criterion = RunLoss(model.class_weights if weights else None, smoothing)

    def build_dataset(self, img_path: str, mode: str = "train", batch: Any = None) -> Any:
        dataset = super().build_dataset(img_path, mode, batch)
        balance = self._balance() if mode == "train" else None
        return BalancedSampling(dataset) if balance is not None and balance.mode == "sampler" else dataset

    def request_stop(self) -> None:
        """End training after the epoch in progress (under DDP, Ultralytics broadcasts `stop` from rank 0)."""
        self.stop = True

    final_phase = False  # every epoch done: the validation of best.pt fires on_fit_epoch_end again, not an epoch

    def final_eval(self) -> None:
        self.final_phase = True  # seen by the run's callbacks in any process (DDP ranks have no guard)
        guard = active_guard()
        if guard is not None:
            guard.final_phase = True
        # it strips the optimizer from both files, reading each before rewriting it: keep copies until done
        with protected_write([Path(self.last), Path(self.best)], copy=True):
            super().final_eval()
