"""Database tables (SQLAlchemy 2 ORM). API schemas are separate types (studio.schemas)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class DatasetRow(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # preparing | labelling | ready | failed
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(Text)  # the upload folder the dataset is prepared from
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # prepare | train
    status: Mapped[str] = mapped_column(String(16))  # queued | running | completed | failed | cancelled | interrupted
    dataset_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"), nullable=True)
    run_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    epochs_planned: Mapped[int] = mapped_column(Integer, default=0)
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EventRow(Base):
    """Append-only job events; their ids are the SSE event ids (Last-Event-ID resumes after one)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # epoch | status
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    run_name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    parity: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    imgsz: Mapped[int | None] = mapped_column(Integer, nullable=True)
    classes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelCaptureRow(Base):
    """A model's capture setting (studio.schemas.CaptureConfig), for all its versions."""

    __tablename__ = "model_capture"

    model: Mapped[str] = mapped_column(String(100), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)


# A label: NULL = not labelled yet, "" = "none of these" (kept out of training; class names are never blank).
NONE_LABEL = ""


class ImageRow(Base):
    """An image of a dataset's working copy (what labelling edits); its bytes are in the dataset's pool."""

    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("dataset_id", "name"), Index("ix_images_dataset_label", "dataset_id", "label"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)  # its path in the upload: what label CSVs name
    file: Mapped[str] = mapped_column(Text)  # its bytes, relative to the studio's home
    sha256: Mapped[str] = mapped_column(String(64))
    grp: Mapped[str] = mapped_column(String(64))  # near-duplicate group: one split for all its images
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str | None] = mapped_column(String(100), nullable=True)
    split: Mapped[str | None] = mapped_column(String(8), nullable=True)  # given once, at its first version
    version_label: Mapped[str | None] = mapped_column(String(100), nullable=True)  # its label in the last version
    revision: Mapped[int] = mapped_column(Integer, default=0)  # +1 per change: a stale edit is refused
    author: Mapped[str | None] = mapped_column(String(100), nullable=True)
    updated: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LabelChangeRow(Base):
    """Every label change: who, when, from what to what (append-only)."""

    __tablename__ = "label_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    old: Mapped[str | None] = mapped_column(String(100), nullable=True)
    new: Mapped[str | None] = mapped_column(String(100), nullable=True)
    author: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ClassRow(Base):
    """A class of a dataset being labelled, with its key in the annotator."""

    __tablename__ = "classes"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(4))
    position: Mapped[int] = mapped_column(Integer, default=0)


class VersionRow(Base):
    """A frozen, numbered version of a dataset's labels, built as a YOLO classification dataset folder."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # building | ready | failed
    folder: Mapped[str] = mapped_column(Text)  # relative to the home
    sha256: Mapped[str] = mapped_column(String(64))  # of its content: every image's bytes, label and split
    images: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # class -> images
    snapshot: Mapped[str | None] = mapped_column(Text, nullable=True)  # its image list file, relative to the home
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    author: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    built: Mapped[bool] = mapped_column(Boolean, default=False)  # True once its folder is published


class SuggestionRow(Base):
    """What a model says of an image: a trained model's class for an unlabelled image (kind "model"), or, for a
    labelled one, the class cross-validation found likelier than its label (kind "error", with cleanlab's label
    quality score); a suspected error is decided once per version (accepted or kept)."""

    __tablename__ = "suggestions"

    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # model | error
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    confidence: Mapped[float] = mapped_column(default=0.0)
    margin: Mapped[float] = mapped_column(default=0.0)  # top-1 minus top-2 probability: low = uncertain
    score: Mapped[float | None] = mapped_column(nullable=True)  # label quality (kind "error"): low = suspect
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)  # cleanlab's find_label_issues said so
    source: Mapped[str] = mapped_column(String(200))  # "model shoes v2", "run X", "label check v3"
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the version a label check read
    decision: Mapped[str | None] = mapped_column(String(8), nullable=True)  # accepted | kept
