"""Request and response bodies of the labelling API: images of a working copy, labels, classes, label imports,
dataset versions and their differences."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_BULK = 20_000
LabelState = Literal["unlabelled", "labelled", "none"]


class SuggestionOut(BaseModel):
    label: str = Field(description="The class suggested")
    confidence: float = Field(description="The model's probability of that class (kind model)")
    margin: float = Field(description="Top-1 minus top-2 probability: low means the model is unsure")
    score: float | None = Field(default=None, description="Label quality of the given label (a suspected error; "
                                "low: probably wrong)")
    flagged: bool = False
    source: str
    version: int | None = None
    decision: Literal["accepted", "kept"] | None = None


class ImageOut(BaseModel):
    id: int
    name: str = Field(description="Its path in the upload (what a labels CSV names)")
    label: str | None = Field(description="Its class; null when not labelled or 'none of these'")
    state: LabelState
    split: str | None = Field(description="Given at the image's first version, kept in every later one")
    revision: int = Field(description="Send it back with a change: a change made meanwhile by someone else is "
                          "refused (409) instead of overwritten")
    author: str | None = None
    updated: datetime | None = None
    width: int = 0
    height: int = 0
    suggestion: SuggestionOut | None = Field(default=None, description="A trained model's class for it")
    suspect: SuggestionOut | None = Field(default=None, description="A label check doubts its label: the class "
                                          "it found likelier, and the score")


class ImagePage(BaseModel):
    total: int
    offset: int
    images: list[ImageOut]


class LabelChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, max_length=100, description="A class name; null: not labelled")
    none: bool = Field(default=False, description="'None of these': kept, left out of training")
    revision: int = Field(ge=0, description="The image's revision as you last saw it")


class ImageRef(BaseModel):
    id: int
    revision: int = Field(ge=0)


class BulkLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    images: list[ImageRef] = Field(min_length=1, max_length=MAX_BULK)
    label: str | None = Field(default=None, max_length=100)
    none: bool = False


class BulkResult(BaseModel):
    changed: list[ImageOut]
    conflicts: list[ImageOut] = Field(description="Changed by someone else since you loaded them: not changed; "
                                      "their current label is shown")


class ClassOut(BaseModel):
    name: str
    key: str = Field(description="Its key in the annotator ('' when it has none)")
    images: int


class ClassCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    key: str | None = Field(default=None, max_length=4)


class ClassPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200, description="Rename (its images follow)")
    key: str | None = Field(default=None, max_length=4)
    merge_into: str | None = Field(default=None, max_length=200, description="Move its images to this class and "
                                   "delete it")


class LabellingOut(BaseModel):
    dataset: str
    status: str
    total: int
    labelled: int
    none: int
    unlabelled: int
    changed: int = Field(description="Images whose label changed since the last version")
    last_version: int | None
    classes: list[ClassOut]
    authors: dict[str, int] = Field(default_factory=dict, description="Label changes per author")


class RowProblem(BaseModel):
    line: int
    filename: str
    reason: str


class Conflicting(BaseModel):
    name: str
    current: str | None
    csv: str


class ImportSummary(BaseModel):
    rows: int
    applied: int
    unchanged: int
    conflicts: list[Conflicting] = Field(description="Already labelled otherwise: not applied unless "
                                         "?overwrite=true (the first 200)")
    conflict_count: int
    unknown: list[RowProblem] = Field(description="Rows that name no image of the dataset (the first 200)")
    unknown_count: int
    new_classes: list[str]
    dry_run: bool


class VersionOut(BaseModel):
    number: int
    status: Literal["building", "ready", "failed"]
    images: int
    counts: dict[str, int] = Field(description="class -> images")
    sha256: str = Field(description="Of its content: every image's bytes, label and split")
    created: datetime
    author: str | None
    error: str | None = None
    job: str | None = None
    folder: str = Field(description="Its dataset folder under the studio's home (what training uses)")


class DiffEntry(BaseModel):
    name: str
    before: str | None = None
    after: str | None = None


class VersionDiff(BaseModel):
    base: int
    target: int
    added: int
    removed: int
    relabelled: int
    changes: list[DiffEntry] = Field(description="The first 500 added, removed or relabelled images")
    counts: dict[str, dict[str, int]] = Field(description="class -> {base, target}: images per class")
