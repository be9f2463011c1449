"""report.html: a self-contained page (pictures embedded) with the headline, per-class table and arguments."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from yolocls.evaluation.summary import ReportMetrics
from yolocls.training.rundir import load_run_record


def _img_tag(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.name)}">'


def write_html(out: Path, run_dir: Path, metrics: ReportMetrics, per_class: pd.DataFrame,
                pictures: list[Path]) -> None:
    record = load_run_record(run_dir)
    args = record.args if record else {}
    headline = {"top-1": metrics.top1, "top-5": metrics.top5, "macro F1": metrics.macro["f1"],
                "weighted F1": metrics.weighted["f1"], "avg confidence": metrics.avg_confidence,
                "ECE": metrics.ece, "ROC-AUC (ovr)": metrics.roc_auc_ovr, "log loss": metrics.log_loss}
    rows = "".join(f"<tr><th>{k}</th><td>{'n/a' if v is None else f'{v:.4f}'}</td></tr>" for k, v in headline.items())
    arg_rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v))}</td></tr>"
                       for k, v in args.items())
    files = ["metrics.json", "per_class.csv", "predictions.csv", "confusion_matrix.csv"]
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
             "img{max-width:100%;border:1px solid #eee;margin:.5em 0}")
    name = html.escape(run_dir.name)
    preset = html.escape(str(record.preset if record else "n/a"))
    model = html.escape(record.model if record else "n/a")
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>yolocls report: {name}</title>
<style>{style}</style></head><body><h1>Run {name}</h1>
<p>Preset <b>{preset}</b>, model {model}, split <b>{metrics.split}</b> ({metrics.images} images),
weights {html.escape(metrics.weights)}.</p>
<h2>Headline</h2><table>{rows}</table>
<h2>Per class</h2>{per_class.to_html(float_format=lambda x: f"{x:.4f}")}
<h2>Pictures</h2>{''.join(_img_tag(p) for p in pictures)}
<h2>Files</h2><ul>{''.join(f'<li><a href="{f}">{f}</a></li>' for f in files)}</ul>
<p>confusion_matrix.csv: rows = TRUE class, columns = PREDICTED class.</p>
<h2>Training arguments (run.json)</h2><table>{arg_rows}</table></body></html>"""
    (out / "report.html").write_text(body, encoding="utf-8")
