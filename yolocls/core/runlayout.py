"""The layout of a run folder, in one place: every file name the CLI, the studio, the server and the pages use.

    runs/<name>/
      run.json  epochs.jsonl  preview.json  results.csv  .stop   (training: training.rundir reads/writes them)
      weights/best.pt  weights/last.pt  weights/best.onnx        (checkpoints; the exported model)
      export.json                                                (the export record: `path` of the .onnx)
      report/metrics.json  per_class.csv  predictions.csv  confusion_matrix.csv  openset.json  report.html

    runs/<dataset>-curve/                                        (`yolocls learning-curve`)
      learning_curve.csv  learning_curve.png  learning_curve.json  data/<N>pct/  runs/<N>pct/

Other modules ask this one for names and paths; none spells them out.
"""

from __future__ import annotations

from pathlib import Path

RUN_RECORD = "run.json"
EPOCHS_LOG = "epochs.jsonl"  # one EpochMetrics per line, appended after every epoch
PREVIEW_FILE = "preview.json"  # the evaluation preview: fixed val images, predictions per epoch
STOP_FILE = ".stop"  # created to ask a running training job to stop at the next batch
RESULTS_CSV = "results.csv"
WEIGHTS_DIR = "weights"
ONNX_FILE = "best.onnx"  # the exported model, beside the checkpoints
EXPORT_RECORD = "export.json"  # written by `yolocls export`
EXPORT_FAILED_RECORD = "export-failed.json"
REPORT_DIR = "report"
METRICS_FILE = "metrics.json"
PER_CLASS_FILE = "per_class.csv"
PREDICTIONS_FILE = "predictions.csv"
CONFUSION_FILE = "confusion_matrix.csv"
OPENSET_FILE = "openset.json"
REPORT_HTML = "report.html"
REPORT_FILES = (METRICS_FILE, PER_CLASS_FILE, PREDICTIONS_FILE, CONFUSION_FILE, OPENSET_FILE)
CURVE_CSV, CURVE_PLOT, CURVE_JSON = "learning_curve.csv", "learning_curve.png", "learning_curve.json"


def weights_path(run_dir: Path, which: str) -> Path:
    """runs/<name>/weights/<which>.pt (which: best | last)."""
    return run_dir / WEIGHTS_DIR / f"{which}.pt"


def onnx_path(run_dir: Path) -> Path:
    return run_dir / WEIGHTS_DIR / ONNX_FILE


def report_path(run_dir: Path, name: str = "") -> Path:
    """runs/<name>/report/ or a file in it."""
    return run_dir / REPORT_DIR / name if name else run_dir / REPORT_DIR


def report_rel(name: str) -> str:
    """A report file's path inside the run folder, as the studio's file routes take it."""
    return f"{REPORT_DIR}/{name}"
