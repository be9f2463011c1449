"""Labels in and out as a `filename,label` CSV: an import is checked whole (bad rows refuse it all), matched to
the dataset's images by relative path or unambiguous file name, and applied in one transaction; labels that
would change an image already labelled otherwise are shown as conflicts and applied only when asked."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select
from sqlalchemy.orm import Session

from yolocls.data.labelcsv import match_rows, parse_label_csv
from yolocls.studio.label_schemas import Conflicting, ImportSummary, RowProblem
from yolocls.studio.models import NONE_LABEL, ClassRow, ImageRow
from yolocls.studio.workcopy import add_classes, write

LISTED = 200  # conflicts and unknown rows listed in a summary (the counts say how many in all)


def import_labels(s: Session, dataset_id: str, data: bytes, author: str, overwrite: bool = False,
                  dry_run: bool = False, copies: dict[str, list[str]] | None = None) -> ImportSummary:
    """Apply a CSV (see the module's docstring); `copies`: kept image name -> the names of its exact copies in
    the upload (a row may name any of them)."""
    rows = parse_label_csv(data, "labels")
    images = list(s.scalars(select(ImageRow).where(ImageRow.dataset_id == dataset_id).with_for_update()))
    by_name = {im.name: im for im in images}
    for kept, others in (copies or {}).items():
        for other in others:
            if kept in by_name:
                by_name.setdefault(other, by_name[kept])
    matched, unmatched = match_rows(rows, list(by_name))
    known = set(s.scalars(select(ClassRow.name).where(ClassRow.dataset_id == dataset_id)))
    new_classes = sorted({r.label for r in matched.values()} - known)
    changes, conflicts, unchanged = [], [], 0
    seen: set[int] = set()
    for name, row in matched.items():
        image = by_name[name]
        if image.id in seen:  # two copies of one image listed: the first row counts
            continue
        seen.add(image.id)
        if image.label == row.label:
            unchanged += 1
        elif image.label is None:
            changes.append((image, row.label))
        else:
            shown = "none of these" if image.label == NONE_LABEL else image.label
            conflicts.append(Conflicting(name=image.name, current=shown, csv=row.label))
            if overwrite:
                changes.append((image, row.label))
    if not dry_run:
        add_classes(s, dataset_id, new_classes)
        write(s, dataset_id, changes, author)
    return ImportSummary(rows=len(rows), applied=len(changes), unchanged=unchanged, conflicts=conflicts[:LISTED],
                         conflict_count=len(conflicts), new_classes=new_classes, dry_run=dry_run,
                         unknown=[RowProblem(line=r.line, filename=r.filename, reason=why)
                                  for r, why in unmatched[:LISTED]], unknown_count=len(unmatched))


def export_labels(s: Session, dataset_id: str) -> str:
    """`filename,label` for every labelled image (what `import_labels` and `yolocls prepare --csv` read)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["filename", "label"])
    for name, label in s.execute(select(ImageRow.name, ImageRow.label).where(
            ImageRow.dataset_id == dataset_id, ImageRow.label.is_not(None), ImageRow.label != NONE_LABEL)
            .order_by(ImageRow.name)):
        writer.writerow([name, label])
    return out.getvalue()
