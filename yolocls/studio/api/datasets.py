"""/api/v1/datasets: upload (streamed to disk, prepared by a job), list, show, serve images, delete."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse

from yolocls.studio.job_events import new_id
from yolocls.studio.schemas import DatasetCreated, DatasetOut
from yolocls.studio.service import Conflict, NotFound, studio_of
from yolocls.studio.thumbs import THUMB_MAX, image_response, inside
from yolocls.studio.uploads import receive_upload

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.post("", status_code=202, response_model=DatasetCreated,
             summary="Upload a dataset (archive, or a folder's files + optional labels CSV) and prepare it")
async def create_dataset(request: Request) -> DatasetCreated:
    studio = studio_of(request)
    await asyncio.to_thread(studio.check_queue)
    dataset_id = new_id()
    upload = await receive_upload(request, studio.uploads_dir, dataset_id, studio.settings.max_upload_bytes,
                                  name_taken=studio.dataset_name_taken)
    job_id = await asyncio.to_thread(studio.add_upload, upload, dataset_id)  # database work off the event loop

    def created() -> DatasetCreated:
        return DatasetCreated(dataset=studio.dataset_out(studio.dataset_row(dataset_id)),
                              job=studio.job_out(studio.job_row(job_id)))

    return await asyncio.to_thread(created)


@router.get("", response_model=list[DatasetOut],
            summary="Datasets with their counts (skipped files, duplicates and samples: GET /datasets/{id})")
def list_datasets(request: Request) -> list[DatasetOut]:
    return studio_of(request).datasets()


@router.get("/{dataset_id}", response_model=DatasetOut)
def get_dataset(request: Request, dataset_id: str) -> DatasetOut:
    studio = studio_of(request)
    return studio.dataset_out(studio.dataset_row(dataset_id))


@router.delete("/{dataset_id}", status_code=204)
def delete_dataset(request: Request, dataset_id: str) -> Response:
    studio_of(request).delete_dataset(dataset_id)
    return Response(status_code=204)


@router.get("/{dataset_id}/files/{split}/{label}/{name}", response_class=FileResponse,
            summary="An image of a ready dataset; ?size=N gives a thumbnail (longest side N px)")
async def dataset_file(request: Request, dataset_id: str, split: str, label: str, name: str,
                       size: int | None = Query(default=None, ge=16, le=THUMB_MAX)) -> Response:
    studio = studio_of(request)
    row = await asyncio.to_thread(studio.dataset_row, dataset_id)
    if row.status != "ready":
        raise Conflict(f"dataset '{row.name}' is {row.status}, not ready")
    path = inside(studio.dataset_folder(row), f"{split}/{label}/{name}")
    if path is None:
        raise NotFound(f"{split}/{label}/{name}: not an image of this dataset")
    return await asyncio.to_thread(image_response, path, size, studio.settings.folder(".studio/thumbs"))
