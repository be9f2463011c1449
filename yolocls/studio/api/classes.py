"""/api/v1/datasets/{id}/classes/{name}: rename a class, change its key, merge it into another, delete it (saying
what becomes of its images). Its images follow in the same transaction, each change recorded with its author."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from yolocls.core.errors import SourceError
from yolocls.studio.api.auth import author_of
from yolocls.studio.api.labels import working_copy
from yolocls.studio.errors import Conflict, Invalid, NotFound
from yolocls.studio.label_schemas import ClassOut, ClassPatch
from yolocls.studio.models import NONE_LABEL, ClassRow
from yolocls.studio.service import studio_of
from yolocls.studio.workcopy import add_classes, check_key, class_counts, classes_out, editing, relabel_class

router = APIRouter(prefix="/datasets/{dataset_id}/classes", tags=["labelling"])


def _class(s: Session, dataset_id: str, name: str) -> ClassRow:
    row = s.get(ClassRow, (dataset_id, name))
    if row is None:
        raise NotFound(f"class '{name}' not found in this dataset")
    return row


@router.patch("/{name}", response_model=ClassOut, summary="Rename a class, change its key, or merge it into another")
def patch_class(request: Request, dataset_id: str, name: str, body: ClassPatch) -> ClassOut:
    studio = studio_of(request)
    working_copy(studio, dataset_id)
    author = author_of(request)
    with editing(studio.db, dataset_id) as s:
        row = _class(s, dataset_id, name)
        if body.merge_into is not None:
            target = _class(s, dataset_id, body.merge_into)
            if target.name == name:
                raise Conflict("merge_into: a class cannot be merged into itself")
            relabel_class(s, dataset_id, name, target.name, author)
            s.delete(row)
            s.flush()
            return next(c for c in classes_out(s, dataset_id) if c.name == target.name)
        if body.key is not None:
            row.key = check_key(s, dataset_id, body.key, except_class=name)
        if body.name is not None and body.name != name:
            if s.get(ClassRow, (dataset_id, body.name)) is not None:
                raise Conflict(f"name: class '{body.name}' exists; merge into it instead (merge_into)")
            try:
                add_classes(s, dataset_id, [body.name], key="")
            except SourceError as exc:
                raise Invalid(str(exc)) from None
            renamed = _class(s, dataset_id, body.name)
            renamed.key, renamed.position = row.key, row.position
            relabel_class(s, dataset_id, name, body.name, author)
            s.delete(row)
            s.flush()
            name = body.name
        return next(c for c in classes_out(s, dataset_id) if c.name == name)


@router.delete("/{name}", status_code=204, summary="Delete a class; a class with images needs ?images=unlabel, none "
               "or move (with ?to=CLASS)")
def delete_class(request: Request, dataset_id: str, name: str,
                 images: Literal["unlabel", "none", "move"] | None = None,
                 to: str | None = Query(default=None, max_length=100)) -> Response:
    studio = studio_of(request)
    working_copy(studio, dataset_id)
    with editing(studio.db, dataset_id) as s:
        row = _class(s, dataset_id, name)
        count = class_counts(s, dataset_id).get(name, 0)
        if count and images is None:
            raise Conflict(f"class '{name}' has {count} image(s); say what becomes of them: ?images=unlabel (label "
                           "them again), ?images=none ('none of these') or ?images=move&to=CLASS")
        if images == "move":
            if to is None or to == name:
                raise Invalid("to: name the class its images move to")
            _class(s, dataset_id, to)
        new = {"unlabel": None, "none": NONE_LABEL, "move": to, None: None}[images]
        if count:
            relabel_class(s, dataset_id, name, new, author_of(request))
        s.delete(row)
    return Response(status_code=204)
