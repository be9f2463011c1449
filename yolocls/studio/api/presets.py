"""/api/v1/presets: the training presets and augmentation sets a job may name (from presets.yaml)."""

from __future__ import annotations

from fastapi import APIRouter

from yolocls.studio.schemas import PresetOut, PresetsOut
from yolocls.training.presets import load_presets

router = APIRouter(prefix="/presets", tags=["jobs"])


@router.get("", response_model=PresetsOut, summary="Training presets (what each sets) and augmentation sets")
async def list_presets() -> PresetsOut:
    book = load_presets()
    return PresetsOut(
        presets=[PresetOut(name=name, description=p.description, model=p.model, aug=p.aug, balance=p.balance,
                           args=p.args)
                 for name, p in book.presets.items()],
        augmentations={name: a.args for name, a in book.augmentations.items()},
        search_spaces={name: s.params for name, s in book.search_spaces.items()})
