"""/api/v1/datasets/{id}/...: label a dataset's images (one, or many at once), its classes and their keys, label
imports and exports, and who changed what. A dataset uploaded labelled becomes labellable too: its images are
its working copy and its folder its version 1."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import select

from yolocls.core.errors import SourceError
from yolocls.studio.api.auth import author_of
from yolocls.studio.errors import Conflict, Invalid
from yolocls.studio.label_import import export_labels, import_labels
from yolocls.studio.label_schemas import (
    BulkLabel,
    BulkResult,
    ClassCreate,
    ClassOut,
    ImageOut,
    ImagePage,
    ImportSummary,
    LabelChange,
    LabellingOut,
)
from yolocls.studio.models import DatasetRow, LabelChangeRow
from yolocls.studio.service import Studio, studio_of
from yolocls.studio.thumbs import THUMB_MAX, image_response
from yolocls.studio.versions import adopt_prepared, has_working_copy, latest_ready
from yolocls.studio.workcopy import (
    LabelConflict,
    add_classes,
    apply,
    author_counts,
    class_counts,
    classes_out,
    editing,
    image_out,
    image_row,
    image_with_suggestions,
    page,
    require_class,
    state_counts,
    stored_label,
)
from yolocls.studio.workcopy import changed_count as count_changed
from yolocls.studio.workcopy import ids as image_ids

router = APIRouter(prefix="/datasets/{dataset_id}", tags=["labelling"])
State = Literal["unlabelled", "labelled", "none"]
Order = Literal["id", "uncertainty", "confidence", "suspicion"]


def working_copy(studio: Studio, dataset_id: str) -> DatasetRow:
    """The dataset, with a working copy to label (made from its folder the first time, for a prepared one)."""
    row = studio.dataset_row(dataset_id)
    if row.status not in ("labelling", "ready"):
        raise Conflict(f"dataset '{row.name}' is {row.status}; it can be labelled once it is ready")
    if row.status == "ready":
        with editing(studio.db, dataset_id) as s:
            if not has_working_copy(s, dataset_id):
                adopt_prepared(s, studio.settings, row)
    return row


@router.get("/labelling", response_model=LabellingOut, summary="Labelling progress: images per state and class")
def labelling(request: Request, dataset_id: str) -> LabellingOut:
    studio = studio_of(request)
    row = working_copy(studio, dataset_id)
    with studio.db.session() as s:
        counts = class_counts(s, dataset_id)
        states = state_counts(counts)
        last = latest_ready(s, dataset_id)
        return LabellingOut(dataset=dataset_id, status=row.status, total=sum(counts.values()), **states,
                            changed=count_changed(s, dataset_id), last_version=last.number if last else None,
                            classes=classes_out(s, dataset_id), authors=author_counts(s, dataset_id))


@router.get("/images", response_model=ImagePage,
            summary="A page of images, filtered by state, class, name, changed since the last version, suspected "
            "label errors; ordered by id, by the model's uncertainty or confidence, or by suspicion")
def list_images(request: Request, dataset_id: str, state: State | None = None,
                label: str | None = Query(default=None, max_length=100), q: str | None = Query(default=None,
                                                                                               max_length=200),
                changed: bool = False, suspected: bool = False, order: Order = "id",
                offset: int = Query(default=0, ge=0, le=10**7), limit: int = Query(default=200, ge=1, le=1000)
                ) -> ImagePage:
    studio = studio_of(request)
    working_copy(studio, dataset_id)
    with studio.db.session() as s:
        return page(s, dataset_id, offset, limit, order, state=state, label=label, q=q, changed=changed,
                    suspected=suspected)


class IdList(BaseModel):
    ids: list[int]


@router.get("/images/ids", response_model=IdList, summary="Every image id of a filter, in order (the annotator's "
            "queue)")
def list_ids(request: Request, dataset_id: str, state: State | None = None,
             label: str | None = Query(default=None, max_length=100), q: str | None = Query(default=None,
                                                                                            max_length=200),
             changed: bool = False, suspected: bool = False, order: Order = "id") -> IdList:
    studio = studio_of(request)
    working_copy(studio, dataset_id)
    with studio.db.session() as s:
        return IdList(ids=image_ids(s, dataset_id, order, state=state, label=label, q=q, changed=changed,
                                    suspected=suspected))


@router.get("/images/{image_id}", response_model=ImageOut)
def get_image(request: Request, dataset_id: str, image_id: int) -> ImageOut:
    studio = studio_of(request)
    with studio.db.session() as s:
        return image_with_suggestions(s, image_row(s, dataset_id, image_id))


@router.get("/images/{image_id}/file", summary="The image's bytes; ?size=N: a JPEG thumbnail (longest side N px)")
async def image_file(request: Request, dataset_id: str, image_id: int,
                     size: int | None = Query(default=None, ge=16, le=THUMB_MAX)) -> Response:
    studio = studio_of(request)

    def find() -> Response:
        with studio.db.session() as s:
            row = image_row(s, dataset_id, image_id)
        return image_response(studio.settings.home / row.file, size, studio.settings.folder(".studio/thumbs"))

    return await asyncio.to_thread(find)


def _conflict(exc: LabelConflict) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(exc), "current": exc.current.model_dump(mode="json")})


@router.put("/images/{image_id}/label", response_model=ImageOut, responses={409: {"description": "Changed by "
            "someone else since you loaded it: `detail` says how, `current` is the image now"}},
            summary="Label one image (send the revision you saw)")
def set_label(request: Request, dataset_id: str, image_id: int, change: LabelChange) -> ImageOut | JSONResponse:
    studio = studio_of(request)
    working_copy(studio, dataset_id)
    label = stored_label(change.label, change.none)
    try:
        with editing(studio.db, dataset_id) as s:
            require_class(s, dataset_id, None if change.none else change.label)
            done, stale = apply(s, dataset_id, [(image_id, change.revision)], label, author_of(request))
            if stale:
                raise LabelConflict(image_out(stale[0]))
            return image_out(image_row(s, dataset_id, image_id))
    except LabelConflict as exc:
        return _conflict(exc)


@router.post("/labels", response_model=BulkResult, summary="Label many images at once (a grid selection)")
def bulk_label(request: Request, dataset_id: str, change: BulkLabel) -> BulkResult:
    studio = studio_of(request)
    working_copy(studio, dataset_id)
    with editing(studio.db, dataset_id) as s:
        require_class(s, dataset_id, None if change.none else change.label)
        done, stale = apply(s, dataset_id, [(r.id, r.revision) for r in change.images],
                            stored_label(change.label, change.none), author_of(request))
        changed = [image_out(image_row(s, dataset_id, r.id)) for r in done]
        return BulkResult(changed=changed, conflicts=[image_out(r) for r in stale])


@router.post("/labels/import", response_model=ImportSummary, summary="Apply a filename,label CSV (the request body)",
             openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}})
async def import_csv(request: Request, dataset_id: str, overwrite: bool = False,
                     dry_run: bool = False) -> ImportSummary:
    studio = studio_of(request)
    row = await asyncio.to_thread(working_copy, studio, dataset_id)
    data = await request.body()  # bounded by the route's body limit (YOLOCLS_MAX_LABELS_BYTES)
    author = author_of(request)

    def run() -> ImportSummary:
        scan = studio.settings.home / str((row.options or {}).get("scan", "-"))
        copies = json.loads(scan.read_text(encoding="utf-8")).get("copies") if scan.is_file() else None
        try:
            with editing(studio.db, dataset_id) as s:
                return import_labels(s, dataset_id, data, author, overwrite, dry_run, copies)
        except SourceError as exc:
            raise Invalid(str(exc)) from None

    return await asyncio.to_thread(run)


@router.get("/labels.csv", response_class=PlainTextResponse, summary="Every labelled image as filename,label")
def export_csv(request: Request, dataset_id: str) -> PlainTextResponse:
    studio = studio_of(request)
    row = working_copy(studio, dataset_id)
    with studio.db.session() as s:
        text = export_labels(s, dataset_id)
    return PlainTextResponse(text, media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{row.name}-labels.csv"'})


class ChangeOut(BaseModel):
    image: int
    old: str | None
    new: str | None
    author: str
    at: datetime


@router.get("/changes", response_model=list[ChangeOut], summary="Label changes, newest first: who, when, what")
def changes(request: Request, dataset_id: str, image: int | None = None,
            limit: int = Query(default=100, ge=1, le=1000)) -> list[ChangeOut]:
    studio = studio_of(request)
    studio.dataset_row(dataset_id)
    query = select(LabelChangeRow).where(LabelChangeRow.dataset_id == dataset_id)
    if image is not None:
        query = query.where(LabelChangeRow.image_id == image)
    with studio.db.session() as s:
        rows = s.scalars(query.order_by(LabelChangeRow.id.desc()).limit(limit))
        return [ChangeOut(image=r.image_id, old=r.old, new=r.new, author=r.author, at=r.at) for r in rows]


@router.get("/classes", response_model=list[ClassOut])
def list_classes(request: Request, dataset_id: str) -> list[ClassOut]:
    studio = studio_of(request)
    working_copy(studio, dataset_id)
    with studio.db.session() as s:
        return classes_out(s, dataset_id)


@router.post("/classes", response_model=ClassOut, status_code=201, summary="Add a class (its key: the next free "
             "one unless given)")
def create_class(request: Request, dataset_id: str, body: ClassCreate) -> ClassOut:
    studio = studio_of(request)
    working_copy(studio, dataset_id)
    with editing(studio.db, dataset_id) as s:
        try:
            created = add_classes(s, dataset_id, [body.name], body.key)
        except SourceError as exc:
            raise Invalid(str(exc)) from None
        if not created:
            raise Conflict(f"name: class '{body.name}' exists")
        return next(c for c in classes_out(s, dataset_id) if c.name == body.name)
