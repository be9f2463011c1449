"""`yolocls runs`: the leaderboard of every run under runs/ as a table (rows from `evaluation.summary`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from yolocls.evaluation.summary import leaderboard


def runs_table(runs_dir: Path, warn: Callable[[str], None] | None = None) -> pd.DataFrame:
    """One row per run: status, preset, dataset, epochs, best epoch, headline metrics, start time."""
    rows = [{**r.model_dump(), "started": r.started.strftime("%Y-%m-%d %H:%M") if r.started else None}
            for r in leaderboard(runs_dir, warn)]
    return pd.DataFrame(rows)
