"""Routes of the browser UI. Each page is a small server-rendered shell; everything it shows or does goes
through the public /api/v1 (so a script can do the same), with the API key the browser session holds."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from yolocls import __version__

WEB = Path(str(resources.files("yolocls.studio.web")))
templates = Jinja2Templates(directory=str(WEB / "templates"))
router = APIRouter(include_in_schema=False)

PAGES = {  # path -> (template, title, nav entry)
    "datasets": ("datasets.html", "Datasets"),
    "train": ("train.html", "New training"),
    "runs": ("runs.html", "Runs"),
    "models": ("models.html", "Models"),
}


def _page(request: Request, template: str, title: str, nav: str, **context: str) -> HTMLResponse:
    key_required = request.app.state.studio.settings.auth_required  # asked up front, not after a 401
    return templates.TemplateResponse(request, template, {
        "title": title, "nav": nav, "version": __version__, "pages": PAGES, "key_required": key_required,
        **context},
        headers={"Cache-Control": "no-cache"})


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/datasets", status_code=307)


@router.get("/datasets", response_class=HTMLResponse)
async def datasets(request: Request) -> HTMLResponse:
    return _page(request, "datasets.html", "Datasets", "datasets")


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
async def dataset(request: Request, dataset_id: str) -> HTMLResponse:
    return _page(request, "dataset.html", "Dataset", "datasets", dataset_id=dataset_id)


@router.get("/datasets/{dataset_id}/annotate", response_class=HTMLResponse)
async def annotate(request: Request, dataset_id: str) -> HTMLResponse:
    return _page(request, "annotate.html", "Label images", "datasets", dataset_id=dataset_id)


@router.get("/datasets/{dataset_id}/grid", response_class=HTMLResponse)
async def grid(request: Request, dataset_id: str) -> HTMLResponse:
    return _page(request, "grid.html", "Images", "datasets", dataset_id=dataset_id)


@router.get("/train", response_class=HTMLResponse)
async def train(request: Request) -> HTMLResponse:
    return _page(request, "train.html", "New training", "train")


@router.get("/runs", response_class=HTMLResponse)
async def runs(request: Request) -> HTMLResponse:
    return _page(request, "runs.html", "Runs", "runs")


@router.get("/runs/{name}", response_class=HTMLResponse)
async def run(request: Request, name: str) -> HTMLResponse:
    return _page(request, "run.html", f"Run {name}", "runs", run=name)


@router.get("/models", response_class=HTMLResponse)
async def models(request: Request) -> HTMLResponse:
    return _page(request, "models.html", "Models", "models")


def add_web(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")
