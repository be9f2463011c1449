"""A deployed model's capture setting (all its versions) and what it captured: the studio's side of
`yolocls serve --capture`, with the store in the home's captures/<model>/. Changing the setting swaps the
store of the loaded versions in place: no request is dropped."""

from __future__ import annotations

import json
import re
from pathlib import Path

from yolocls.serving.engine import CaptureSettings, CaptureStore, ServingState
from yolocls.studio.db import Database
from yolocls.studio.models import ModelCaptureRow
from yolocls.studio.schemas import CaptureConfig, CapturedOut, CapturesOut

CAPTURED_NAME = re.compile(r"^[0-9]{20}-[0-9a-f]{12}\.(jpg|png|gif|bmp|tif|webp|bin)$")


class Captures:
    def __init__(self, db: Database, folder: Path) -> None:
        self.db, self.folder = db, folder

    def config(self, model: str) -> CaptureConfig:
        with self.db.session() as s:
            row = s.get(ModelCaptureRow, model)
            return CaptureConfig.model_validate(row.settings) if row is not None else CaptureConfig()

    def save(self, model: str, config: CaptureConfig) -> None:
        with self.db.session() as s:
            row = s.get(ModelCaptureRow, model)
            if row is None:
                s.add(ModelCaptureRow(model=model, settings=config.model_dump()))
            else:
                row.settings = config.model_dump()

    def store(self, model: str, config: CaptureConfig) -> CaptureStore | None:
        if not config.enabled:
            return None
        return CaptureStore(CaptureSettings(folder=self.folder / model, unknown=config.unknown, below=config.below,
                                            sample=config.sample, max_files=config.max_files,
                                            max_bytes=config.max_bytes))

    def apply(self, state: ServingState, model: str, config: CaptureConfig) -> None:
        """Give a loaded version the store of `config` (the old one finishes its queue and closes)."""
        old, state.capture = state.capture, self.store(model, config)
        if old is not None:
            old.close()

    def listing(self, model: str, limit: int) -> CapturesOut:
        folder = self.folder / model
        images = sorted((p for p in folder.iterdir() if CAPTURED_NAME.match(p.name)), reverse=True) \
            if folder.is_dir() else []
        recent = []
        for image in images[:limit]:
            try:
                meta = json.loads(image.with_suffix(".json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # being written or dropped right now
            recent.append(CapturedOut(name=image.name, reason=meta.get("reason", "?"), model=meta.get("model", "?"),
                                      prediction=meta.get("prediction", {}), time=meta.get("time", 0.0)))
        size = sum(p.stat().st_size for p in folder.iterdir()) if folder.is_dir() else 0
        return CapturesOut(config=self.config(model), count=len(images), bytes=size, recent=recent)

    def image(self, model: str, name: str) -> Path | None:
        """A captured image by the name the listing gives; never anything else."""
        path = self.folder / model / name
        return path if CAPTURED_NAME.match(name) and path.is_file() else None
