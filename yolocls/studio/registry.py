"""Model versions: a deploy job's export (with the parity check, in a Ray worker) registered as `<model>` v1, v2, ...;
serve any version in-process with the same predictor, limits and micro-batching as `yolocls serve`.

Switching the default version never drops a request: a request keeps the loaded version it started with,
and loaded versions stay loaded."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yolocls.core.errors import ModelError, YoloclsError
from yolocls.core.fs import file_sha256
from yolocls.inference.heatmap import heatmaps_at
from yolocls.inference.onnx_predictor import OnnxPredictor
from yolocls.serving.engine import Metrics, ServeSettings, ServingState, start_state, stop_state
from yolocls.studio.captures import Captures
from yolocls.studio.db import Database
from yolocls.studio.job_events import aware
from yolocls.studio.jobmodel import ExportResult
from yolocls.studio.models import ModelVersionRow
from yolocls.studio.schemas import CaptureConfig, ModelOut, ModelVersionOut


class ModelNotFound(YoloclsError):
    status_code = 404


def version_out(row: ModelVersionRow) -> ModelVersionOut:
    return ModelVersionOut(model=row.model, version=row.version, run=row.run_name, sha256=row.sha256,
                           default=row.is_default, created=aware(row.created), parity=row.parity,  # type: ignore[arg-type]
                           imgsz=row.imgsz, classes=row.classes or [],
                           heatmaps=heatmaps_at(row.imgsz))


class Registry:
    def __init__(self, db: Database, models_dir: Path, captures_dir: Path | None = None) -> None:
        self.db, self.models_dir = db, models_dir
        self.captures = Captures(db, captures_dir or models_dir.parent / "captures")
        self.loaded: dict[int, ServingState] = {}
        self._lock = asyncio.Lock()  # loading a version
        self._register_lock = threading.Lock()  # registering one (in the scheduler's thread)

    def register(self, s: Session, model: str, run_name: str, incoming: Path, result: ExportResult
                 ) -> ModelVersionOut:
        """Move a deploy job's exported file in as the next version of `model`, in the caller's session (the
        job's own: its completion and the version commit together, so a version is never half-registered);
        version numbers are given out one at a time."""
        if not result.ok or result.sha256 is None:
            raise ModelError(f"deploying run {run_name} failed: {result.error}")
        with self._register_lock:
            latest = s.scalar(select(func.max(ModelVersionRow.version)).where(ModelVersionRow.model == model))
            version = (latest or 0) + 1
            target = self.models_dir / model / f"v{version}" / "model.onnx"
            target.parent.mkdir(parents=True, exist_ok=True)
            if file_sha256(incoming) != result.sha256:
                raise ModelError(f"deploying run {run_name}: the exported file changed before it was registered; "
                                 "deploy again")
            incoming.rename(target)
            row = ModelVersionRow(model=model, version=version, run_name=run_name, path=str(target),
                                  sha256=result.sha256, parity=result.parity, is_default=version == 1,
                                  imgsz=result.imgsz, classes=result.classes)
            s.add(row)
            s.flush()
            return version_out(row)

    def list(self) -> list[ModelOut]:
        with self.db.session() as s:
            rows = list(s.scalars(select(ModelVersionRow).order_by(ModelVersionRow.model, ModelVersionRow.version)))
        names = sorted({r.model for r in rows})
        return [ModelOut(name=n, default_version=next((r.version for r in rows if r.model == n and r.is_default),
                                                      None),
                         versions=[version_out(r) for r in rows if r.model == n]) for n in names]

    def version(self, model: str, version: int | None) -> ModelVersionRow:
        """A model's version (its default when `version` is None); 404 when there is none."""
        with self.db.session() as s:
            query = select(ModelVersionRow).where(ModelVersionRow.model == model)
            query = query.where(ModelVersionRow.version == version) if version is not None \
                else query.where(ModelVersionRow.is_default.is_(True))
            row = s.scalar(query)
        if row is None:
            what = f"version {version} of model '{model}'" if version is not None else f"model '{model}'"
            raise ModelNotFound(f"{what} not found; see GET /api/v1/models")
        return row

    def list_versions(self, model: str) -> None:
        """Nothing, for a model with versions; 404 otherwise."""
        self.version(model, None)

    def set_default(self, model: str, version: int) -> ModelOut:
        self.version(model, version)
        with self.db.session() as s:
            for row in s.scalars(select(ModelVersionRow).where(ModelVersionRow.model == model)):
                row.is_default = row.version == version
        return next(m for m in self.list() if m.name == model)

    async def state(self, model: str, version: int | None) -> ServingState:
        """The loaded version (loading it on first use)."""
        row = await asyncio.to_thread(self.version, model, version)
        async with self._lock:
            if row.id not in self.loaded:
                settings = ServeSettings(model=Path(row.path))  # type: ignore[call-arg]
                state = ServingState(settings=settings, metrics=Metrics())
                predictor = await asyncio.to_thread(OnnxPredictor, Path(row.path))
                predictor.name = f"{row.model}:v{row.version}"
                await start_state(state, predictor)
                config = await asyncio.to_thread(self.captures.config, row.model)
                await asyncio.to_thread(self.captures.apply, state, row.model, config)
                self.loaded[row.id] = state
            return self.loaded[row.id]

    async def set_capture(self, model: str, config: CaptureConfig) -> None:
        """Save a model's capture setting and apply it to its loaded versions (in place: no request dropped)."""
        await asyncio.to_thread(self.version, model, None)  # 404 for an unknown model
        await asyncio.to_thread(self.captures.save, model, config)
        async with self._lock:
            with self.db.session() as s:
                ids = set(s.scalars(select(ModelVersionRow.id).where(ModelVersionRow.model == model)))
            for row_id, state in self.loaded.items():
                if row_id in ids:
                    await asyncio.to_thread(self.captures.apply, state, model, config)

    async def close(self) -> None:
        for state in self.loaded.values():
            await stop_state(state)
        self.loaded.clear()
