"""The per-epoch macro scores equal scikit-learn's (computed independently with numpy in the trainer)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from yolocls.training.epoch_metrics import _macro


@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_macro_scores_equal_scikit_learn(n_classes):
    rng = np.random.default_rng(n_classes)
    for _ in range(50):
        y, p = rng.integers(0, n_classes, 40), rng.integers(0, n_classes, 40)
        expected = precision_recall_fscore_support(y, p, labels=np.arange(n_classes), average="macro",
                                                   zero_division=0)[:3]
        np.testing.assert_allclose(_macro(y, p, n_classes), expected, atol=1e-12)
