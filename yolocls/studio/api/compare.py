"""/api/v1/compare?runs=A&runs=B: runs compared on the test images they share. Versions of a dataset keep each
image's split, so runs on different versions are tested on the same images; scored here with the labels of the
last run's version (a label fixed since an earlier version counts against the earlier run too)."""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from yolocls.data.version_build import image_id_of
from yolocls.studio.errors import Conflict
from yolocls.studio.models import ImageRow
from yolocls.studio.runs import predictions, run_folder
from yolocls.studio.service import studio_of
from yolocls.training.rundir import dataset_of_run

router = APIRouter(tags=["runs"])


class RunOnCommon(BaseModel):
    run: str
    dataset: str
    top1: float = Field(description="Top-1 on the shared test images")
    recall: dict[str, float] = Field(description="class -> recall on the shared test images")


class Comparison(BaseModel):
    images: int = Field(description="Test images every run was evaluated on")
    runs: list[RunOnCommon]
    recall_change: dict[str, float] = Field(description="class -> recall of the last run minus the first")


def _keys(s, folder: str, paths: list[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """path in a run's dataset -> the image it is (its id in the studio; else the path itself)."""
    by_file = dict(s.execute(select(ImageRow.file, ImageRow.id).where(
        ImageRow.file.in_([f"{folder}/{p}" for p in paths]))).tuples().all()) if paths else {}
    out = {}
    for p in paths:
        found = by_file.get(f"{folder}/{p}")
        image_id = found if found is not None else image_id_of(p)
        out[p] = f"image {image_id}" if image_id is not None else p
    return out


@router.get("/compare", response_model=Comparison, summary="Runs compared on the test images they share (stable "
            "splits across dataset versions), per class")
def compare(request: Request, runs: list[str] = Query(min_length=2, max_length=8)) -> Comparison:
    studio = studio_of(request)
    answers: list[tuple[str, str, dict[str, tuple[str, str]]]] = []
    with studio.db.session() as s:
        for name in runs:
            run_dir = run_folder(studio.scheduler.runs_dir, name)
            rows = predictions(run_dir, None, None, False, 10**7)
            folder = f"datasets/{dataset_of_run(run_dir, None).name}"
            keys = _keys(s, folder, [r.path for r in rows])
            answers.append((run_dir.name, folder.split("/", 1)[1], {keys[r.path]: (r.true, r.predicted) for r in rows}))
    common = set.intersection(*(set(a[2]) for a in answers))
    if not common:
        raise Conflict("these runs share no test image (different datasets?); compare runs of one dataset")
    truth = {k: answers[-1][2][k][0] for k in common}
    out = []
    for run, dataset, said in answers:
        hit: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for k in common:
            hit[truth[k]][0] += said[k][1] == truth[k]
            hit[truth[k]][1] += 1
        out.append(RunOnCommon(run=run, dataset=dataset, top1=round(sum(h[0] for h in hit.values()) / len(common), 4),
                               recall={c: round(h[0] / h[1], 4) for c, h in sorted(hit.items())}))
    change = {c: round(out[-1].recall[c] - out[0].recall.get(c, 0.0), 4) for c in out[-1].recall}
    return Comparison(images=len(common), runs=out, recall_change=change)
