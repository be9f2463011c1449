"""report.html: a self-contained page (pictures embedded) with the headline, per-class table and arguments."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from yolocls.core.runlayout import REPORT_FILES, REPORT_HTML
from yolocls.evaluation.openset import FEW_IMAGES, OpenSetReport
from yolocls.evaluation.summary import ReportMetrics
from yolocls.training.rundir import load_run_record


def _img_tag(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.name)}">'


def _openset_html(o: OpenSetReport) -> str:
    """The open-set section: what the thresholds do, on which split, with the per-class thresholds."""
    p, point = o.policy, o.operating_point
    accuracy = "n/a" if point.accuracy is None else f"{point.accuracy:.4f}"
    ood = "" if o.ood_rejected is None else (f"<li>Out-of-distribution folder: <b>{o.ood_rejected:.1%}</b> of "
                                              f"{o.ood_images} images answered <i>unknown</i>.</li>")
    few = f"; below {FEW_IMAGES} the fit is noisy" if o.fitted_images < FEW_IMAGES else ""
    same = " (the dataset has no test split: fitted and measured on the same images)" \
        if o.fitted_on == o.evaluated_on else ""
    rows = "".join(f"<tr><th>{html.escape(c)}</th><td>{t:.4f}</td><td>{'global' if c in p.fallback_classes else ''}"
                   "</td></tr>" for c, t in p.thresholds.items())
    return f"""<h2>Open set: answering "unknown"</h2><ul>
<li>Fitted on <b>{o.fitted_on}</b> ({o.fitted_images} images{few}), measured on <b>{o.evaluated_on}</b>{same}.</li>
<li>Temperature {p.temperature:.4f}: expected calibration error {o.ece_before:.4f} before, {o.ece_after:.4f} after.</li>
<li>Thresholds for target precision {p.target_precision} (keeping at most {p.known_recall:.0%} of each class's
correct val answers; classes with fewer than {p.min_support} val answers use the global threshold
{p.global_threshold:.4f}{'' if p.target_reached else '; the target was not reached on val'}).</li>
<li>Operating point: answers <b>{point.coverage:.1%}</b> of {point.images} images, accuracy of the answers
<b>{accuracy}</b>.</li>{ood}</ul>
<table><tr><th>class</th><th>threshold</th><th></th></tr>{rows}</table>"""


def write_html(out: Path, run_dir: Path, metrics: ReportMetrics, per_class: pd.DataFrame,
               pictures: list[Path], openset: OpenSetReport | None = None) -> None:
    record = load_run_record(run_dir)
    args = record.args if record else {}
    headline = {"top-1": metrics.top1, "top-5": metrics.top5, "macro F1": metrics.macro["f1"],
                "weighted F1": metrics.weighted["f1"], "avg confidence": metrics.avg_confidence,
                "ECE": metrics.ece, "ROC-AUC (ovr)": metrics.roc_auc_ovr, "log loss": metrics.log_loss}
    rows = "".join(f"<tr><th>{k}</th><td>{'n/a' if v is None else f'{v:.4f}'}</td></tr>" for k, v in headline.items())
    arg_rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v))}</td></tr>"
                       for k, v in args.items())
    files = list(REPORT_FILES)
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
{_openset_html(openset) if openset else ""}
<h2>Pictures</h2>{''.join(_img_tag(p) for p in pictures)}
<h2>Files</h2><ul>{''.join(f'<li><a href="{f}">{f}</a></li>' for f in files)}</ul>
<p>confusion_matrix.csv: rows = TRUE class, columns = PREDICTED class.</p>
<h2>Training arguments (run.json)</h2><table>{arg_rows}</table></body></html>"""
    (out / REPORT_HTML).write_text(body, encoding="utf-8")
