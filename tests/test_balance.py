"""Imbalanced classes: `--balance none | weights | sampler | auto`, chosen once per run and applied by the
trainer subclass through Ultralytics' own hooks."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.helpers import make_learnable_dataset
from yolocls.core.errors import ConfigError
from yolocls.training.balance import BalancedSampling, describe, resolve_balance

CLASSES = ["a", "b", "c"]


def test_auto_weights_only_a_clearly_imbalanced_split_with_scikit_learns_balanced_rule():
    skewed = resolve_balance("auto", CLASSES, {"a": 600, "b": 600, "c": 60})
    assert skewed.mode == "weights" and skewed.ratio == 10.0
    n, k = 1260, 3  # n_images / (n_classes * n_class_images)
    assert skewed.weights == pytest.approx([n / (k * 600), n / (k * 600), n / (k * 60)], rel=1e-5)
    assert describe(skewed).startswith("class balance: auto -> weights (largest class 10x the smallest")
    mild = resolve_balance("auto", CLASSES, {"a": 90, "b": 60, "c": 30})
    assert mild.mode == "none" and mild.weights is None  # 3x: not over the threshold
    assert resolve_balance("sampler", CLASSES, {"a": 90, "b": 60, "c": 30}).mode == "sampler"
    with pytest.raises(ConfigError, match="--balance: unknown 'inverse'; valid: auto, none, weights, sampler"):
        resolve_balance("inverse", CLASSES, {"a": 1, "b": 1, "c": 1})


class _Samples:
    """What BalancedSampling needs of Ultralytics' ClassificationDataset: `samples` (path, class, ...) and items."""

    def __init__(self, counts: list[int]) -> None:
        self.samples = [(f"{c}-{i}.png", c) for c, n in enumerate(counts) for i in range(n)]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> int:
        return self.samples[i][1]


def test_the_sampler_draws_every_class_as_often_as_the_largest():
    data = _Samples([600, 600, 60])
    balanced = BalancedSampling(data)
    assert len(balanced) == 1800 and balanced.samples is data.samples  # 3 classes x 600
    drawn = Counter(balanced[i] for i in range(len(balanced)))
    assert drawn == {0: 600, 1: 600, 2: 600}  # not 600:600:60
    minority = Counter(balanced.draw(i) for i in range(2, 180_000, 3))
    assert set(minority) == set(range(1200, 1260))  # every minority image, each about as often


@pytest.mark.slow
def test_balance_modes_train_and_change_the_loss(tmp_path):
    """Same data, seed and epochs: `weights` and `sampler` each give a different training loss than `none`,
    and run.json records what was done (auto on a 6x split: weights)."""
    from yolocls.training.runner import TrainOptions, train

    data = make_learnable_dataset(tmp_path, per_class=(40, 40, 8))
    losses = {}
    for mode in ("none", "weights", "sampler", "auto"):
        run_dir, record = train(TrainOptions(data=data, epochs=1, imgsz=32, batch=8, device="cpu", pretrained=False,
                                             runs_dir=tmp_path / "runs", name=mode, quiet=True, report=False,
                                             aug="none", balance=mode, set=["warmup_epochs=0", "workers=0"]))
        assert record.status == "completed"
        saved = json.loads((run_dir / "run.json").read_text())["balance"]
        losses[mode] = json.loads((run_dir / "epochs.jsonl").read_text().splitlines()[0])["train_loss"]
        assert saved["requested"] == mode and saved["mode"] == ("weights" if mode == "auto" else mode)
    assert losses["auto"] == pytest.approx(losses["weights"])  # the same choice, the same run
    assert abs(losses["weights"] - losses["none"]) > 1e-4 and abs(losses["sampler"] - losses["none"]) > 1e-4, losses


def test_label_smoothing_is_applied_by_the_runs_loss_not_dropped(tmp_path):
    """Ultralytics 8.4 drops `label_smoothing` with a warning; yolocls applies it in the run's loss: the training
    process's criterion smooths with the run's value (a smoothed loss of confident right answers is higher),
    run.json records it, and Ultralytics' own args.yaml never receives the key. (And on the CPU the run trains
    with every usable core, recorded in run.json.)"""
    import torch
    import yaml

    from yolocls.core.limits import available_cpus
    from yolocls.training.runner import TrainOptions, train

    data = make_learnable_dataset(tmp_path, per_class=(16, 16, 16))
    confident = {"cls": torch.tensor([0, 1]), "logits": torch.tensor([[9.0, 0.0, 0.0], [0.0, 9.0, 0.0]])}
    seen = {}

    def grab(trainer):
        criterion = getattr(trainer.model, "criterion", None) or trainer.model.init_criterion()  # Ultralytics': lazy
        seen[trainer.args.name] = float(criterion(confident["logits"], {"cls": confident["cls"]})[0])

    for smoothing in (0.0, 0.3):
        name = f"ls{smoothing}"
        run_dir, record = train(TrainOptions(data=data, epochs=1, imgsz=32, batch=8, device="cpu", pretrained=False,
                                             runs_dir=tmp_path / "runs", name=name, quiet=True, report=False,
                                             aug="none", balance="none",
                                             set=["warmup_epochs=0", "workers=0", f"label_smoothing={smoothing}"]),
                                extra=[("on_train_start", grab)])
        assert record.status == "completed"
        saved = json.loads((run_dir / "run.json").read_text())
        assert saved["args"]["label_smoothing"] == smoothing
        assert "label_smoothing" not in yaml.safe_load((run_dir / "args.yaml").read_text())
        assert saved["cpu_threads"] == available_cpus()  # every usable core, not Ultralytics' cores - 1
    expected = {name: float(torch.nn.functional.cross_entropy(confident["logits"], confident["cls"],
                                                               label_smoothing=ls)) for name, ls in
                (("ls0.0", 0.0), ("ls0.3", 0.3))}
    assert seen == pytest.approx(expected) and seen["ls0.3"] > seen["ls0.0"] + 1.0, seen
