"""A dataset's working copy: its images and their labels, edited by people at once. Every change is checked
against the revision its author saw (a stale change is refused with the current label, never written over it)
and recorded with its author and time; a set of changes is one transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from yolocls.data.labelcsv import check_class_name
from yolocls.studio.db import Database
from yolocls.studio.errors import Conflict, NotFound
from yolocls.studio.job_events import now
from yolocls.studio.label_schemas import ClassOut, ImageOut, ImagePage, LabelState
from yolocls.studio.models import NONE_LABEL, ClassRow, ImageRow, LabelChangeRow, SuggestionRow
from yolocls.studio.suggestions import of_images, suggestion_out

CLASS_KEYS = "123456789abcdefghijklmnopqrstuvwxyz"  # 0, space, arrows, Backspace: the annotator's own keys
STATES: tuple[LabelState, ...] = ("unlabelled", "labelled", "none")


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@contextmanager
def editing(db: Database, dataset_id: str) -> Iterator[Session]:
    """A session whose changes to one dataset's labels are checked and committed while no other request of this
    studio changes them (the rows are also locked for update, for databases shared by several processes)."""
    with _locks_guard:
        lock = _locks.setdefault(dataset_id, threading.Lock())
    with lock, db.session() as s:
        yield s


class LabelConflict(Conflict):
    """A change to an image someone else changed since its author loaded it."""

    def __init__(self, current: ImageOut) -> None:
        who = f" by {current.author}" if current.author else ""
        shown = current.label if current.state == "labelled" else current.state
        super().__init__(f"image '{current.name}' was changed{who} to '{shown}' (revision {current.revision}) since "
                         "you loaded it; nothing was changed: look at its current label and apply yours again")
        self.current = current


def state_of(label: str | None) -> LabelState:
    return "unlabelled" if label is None else "none" if label == NONE_LABEL else "labelled"


def image_out(row: ImageRow, suggestions: dict[tuple[int, str], SuggestionRow] | None = None) -> ImageOut:
    found = suggestions or {}
    model, error = found.get((row.id, "model")), found.get((row.id, "error"))
    return ImageOut(id=row.id, name=row.name, label=row.label or None, state=state_of(row.label), split=row.split,
                    revision=row.revision, author=row.author, updated=row.updated, width=row.width,
                    height=row.height, suggestion=suggestion_out(model) if model else None,
                    suspect=suggestion_out(error) if error else None)


def image_with_suggestions(s: Session, row: ImageRow) -> ImageOut:
    return image_out(row, of_images(s, [row.id]))


def stored_label(label: str | None, none: bool) -> str | None:
    return NONE_LABEL if none else label


def where(dataset_id: str, state: str | None = None, label: str | None = None, q: str | None = None,
          changed: bool = False, suspected: bool = False) -> Any:
    """The filter of a page of images: a state, a class, a piece of the file name, changed since the version."""
    terms = [ImageRow.dataset_id == dataset_id]
    if state == "unlabelled":
        terms.append(ImageRow.label.is_(None))
    elif state == "none":
        terms.append(ImageRow.label == NONE_LABEL)
    elif state == "labelled":
        terms.append(and_(ImageRow.label.is_not(None), ImageRow.label != NONE_LABEL))
    if label is not None:
        terms.append(ImageRow.label == label)
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        terms.append(ImageRow.name.ilike(f"%{escaped}%", escape="\\"))
    if changed:
        terms.append(ImageRow.label.is_distinct_from(ImageRow.version_label))
    if suspected:  # a label check doubts the label it still has, and nobody decided yet
        terms.append(ImageRow.id.in_(select(SuggestionRow.image_id).where(
            SuggestionRow.dataset_id == dataset_id, SuggestionRow.kind == "error", SuggestionRow.decision.is_(None),
            SuggestionRow.label.is_distinct_from(ImageRow.label))))
    return and_(*terms)


def ordered(query: Any, order: str) -> Any:
    """Images by id; by the model's uncertainty (smallest margin first) or confidence (largest first), images
    without a suggestion last; or most suspect label first."""
    if order in ("uncertainty", "confidence"):
        model = aliased(SuggestionRow)
        query = query.outerjoin(model, and_(model.image_id == ImageRow.id, model.kind == "model"))
        key = model.margin.asc() if order == "uncertainty" else model.confidence.desc()
        # taken in turns from each suggested class (its least sure, or surest, first): a page of the queue is not
        # all one pair of classes the model confuses, and every class gets its hard cases labelled
        turn = func.row_number().over(partition_by=model.label, order_by=key)
        return query.order_by(model.image_id.is_(None), turn, key, ImageRow.id)
    if order == "suspicion":
        error = aliased(SuggestionRow)
        query = query.outerjoin(error, and_(error.image_id == ImageRow.id, error.kind == "error"))
        return query.order_by(error.image_id.is_(None), error.score.asc(), ImageRow.id)
    return query.order_by(ImageRow.id)


def page(s: Session, dataset_id: str, offset: int, limit: int, order: str = "id", **filters: Any) -> ImagePage:
    cond = where(dataset_id, **filters)
    total = s.scalar(select(func.count()).select_from(ImageRow).where(cond)) or 0
    rows = list(s.scalars(ordered(select(ImageRow).where(cond), order).offset(offset).limit(limit)))
    found = of_images(s, [r.id for r in rows])
    return ImagePage(total=total, offset=offset, images=[image_out(r, found) for r in rows])


def ids(s: Session, dataset_id: str, order: str = "id", **filters: Any) -> list[int]:
    return list(s.scalars(ordered(select(ImageRow.id).where(where(dataset_id, **filters)), order)))


def image_row(s: Session, dataset_id: str, image_id: int) -> ImageRow:
    row = s.get(ImageRow, image_id)
    if row is None or row.dataset_id != dataset_id:
        raise NotFound(f"image {image_id} not found in this dataset")
    return row


# ---------- classes ----------

def class_rows(s: Session, dataset_id: str) -> list[ClassRow]:
    return list(s.scalars(select(ClassRow).where(ClassRow.dataset_id == dataset_id).order_by(ClassRow.position,
                                                                                               ClassRow.name)))


def class_counts(s: Session, dataset_id: str) -> dict[str | None, int]:
    rows = s.execute(select(ImageRow.label, func.count()).where(ImageRow.dataset_id == dataset_id)
                     .group_by(ImageRow.label))
    return {label: n for label, n in rows}


def classes_out(s: Session, dataset_id: str) -> list[ClassOut]:
    counts = class_counts(s, dataset_id)
    return [ClassOut(name=c.name, key=c.key, images=counts.get(c.name, 0)) for c in class_rows(s, dataset_id)]


def check_key(s: Session, dataset_id: str, key: str, except_class: str | None = None) -> str:
    key = key.lower()
    if key and key not in CLASS_KEYS:
        raise Conflict(f"key: '{key}' cannot be a class key; use 1-9 or a-z (0, space and arrows are the "
                       "annotator's own)")
    taken = next((c.name for c in class_rows(s, dataset_id) if c.key == key and c.name != except_class), None)
    if key and taken:
        raise Conflict(f"key: '{key}' is already the key of class '{taken}'")
    return key


def add_classes(s: Session, dataset_id: str, names: Iterable[str], key: str | None = None) -> list[str]:
    """Create the classes not there yet (each with the next free key, or `key`); the names created."""
    existing = class_rows(s, dataset_id)
    known = {c.name for c in existing}
    used = {c.key for c in existing}
    position = max((c.position for c in existing), default=-1)
    created = []
    for name in names:
        if name in known:
            continue
        check_class_name(name, "name")
        chosen = check_key(s, dataset_id, key) if key is not None else next((k for k in CLASS_KEYS if k not in used),
                                                                             "")
        used.add(chosen)
        position += 1
        s.add(ClassRow(dataset_id=dataset_id, name=name, key=chosen, position=position))
        known.add(name)
        created.append(name)
    s.flush()
    return created


def require_class(s: Session, dataset_id: str, label: str | None) -> None:
    if label is not None and s.get(ClassRow, (dataset_id, label)) is None:
        raise NotFound(f"label: no class '{label}' in this dataset; create it first (POST .../classes)")


# ---------- changes ----------

def apply(s: Session, dataset_id: str, wanted: Sequence[tuple[int, int | None]], label: str | None,
          author: str) -> tuple[list[ImageRow], list[ImageRow]]:
    """Give `label` to each (image id, revision seen; None: any) that is still at that revision: (changed,
    refused). Unchanged labels are neither; every change is recorded."""
    by_id = {i: r for i, r in wanted}
    rows = list(s.scalars(select(ImageRow).where(ImageRow.dataset_id == dataset_id, ImageRow.id.in_(list(by_id)))
                          .with_for_update())) if len(by_id) <= 5000 else \
        [r for r in s.scalars(select(ImageRow).where(ImageRow.dataset_id == dataset_id).with_for_update())
         if r.id in by_id]
    if len(rows) != len(by_id):
        missing = sorted(set(by_id) - {r.id for r in rows})[:5]
        raise NotFound(f"images {missing} not found in this dataset")
    stale = [r for r in rows if by_id[r.id] is not None and by_id[r.id] != r.revision]
    todo = [r for r in rows if r not in stale and r.label != label]
    write(s, dataset_id, [(r, label) for r in todo], author)
    return todo, stale


def write(s: Session, dataset_id: str, changes: Sequence[tuple[ImageRow, str | None]], author: str) -> None:
    """Store each (image, new label) with a new revision, and record the changes (two statements)."""
    if not changes:
        return
    when = now()
    history = [{"dataset_id": dataset_id, "image_id": r.id, "old": r.label, "new": new, "author": author, "at": when}
               for r, new in changes]  # before the update, which refreshes the rows in the session
    s.execute(update(ImageRow), [{"id": r.id, "label": new, "revision": r.revision + 1, "author": author,
                                  "updated": when} for r, new in changes])
    s.execute(insert(LabelChangeRow), history)
    s.expire_all()


def relabel_class(s: Session, dataset_id: str, old: str, new: str | None, author: str) -> int:
    """Every image labelled `old` gets `new` (a rename, a merge, a delete); how many."""
    targets = [(i, None) for i in s.scalars(select(ImageRow.id).where(ImageRow.dataset_id == dataset_id,
                                                                      ImageRow.label == old))]
    return len(apply(s, dataset_id, targets, new, author)[0]) if targets else 0


def author_counts(s: Session, dataset_id: str) -> dict[str, int]:
    rows = s.execute(select(LabelChangeRow.author, func.count()).where(LabelChangeRow.dataset_id == dataset_id)
                     .group_by(LabelChangeRow.author))
    return {a: n for a, n in rows}


def changed_count(s: Session, dataset_id: str) -> int:
    return s.scalar(select(func.count()).select_from(ImageRow).where(where(dataset_id, changed=True))) or 0


def state_counts(counts: dict[str | None, int]) -> dict[str, int]:
    out: dict[str, int] = dict.fromkeys(STATES, 0)
    for label, n in counts.items():
        out[state_of(label)] += n
    return out

