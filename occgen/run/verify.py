"""Repair a store: regenerate exactly the shards that fail verification, then verify again.

Generation is deterministic (samples depend only on seed, recipe and index), so rewriting a bad shard
with the recipe that made the store gives back its original bytes. The recipe must be the one the store
was made with: :func:`occgen.run.generate.prepare_store` refuses a resume whose generation spec differs.
"""

from __future__ import annotations

from pathlib import Path

import zarr

from occgen.core.errors import StoreError
from occgen.recipes.base import Recipe
from occgen.run.generate import generate
from occgen.store.integrity import StoreCheck, mark_for_repair, verify_one
from occgen.store.schema import ATTRS_KEY


def repair_store(
    recipe: Recipe, path: Path, *, workers: int = 1, scheduler: str | None = None
) -> tuple[StoreCheck, StoreCheck]:
    """Verify ``path``, regenerate its bad shards with ``recipe``, verify again; returns (before, after)."""
    before = verify_one(path)
    mark_for_repair(path, before.bad_shards)
    card = zarr.open_group(str(path), mode="r").attrs[ATTRS_KEY]
    generation = card.get("generation", {})
    generate(
        recipe, Path(path), n=int(card["n"]), shard_size=int(card["shard_size"]), workers=workers,
        scheduler=scheduler, image_codec=generation.get("image_codec") or card["image_codec"],
    )  # fmt: skip
    after = verify_one(path)
    if not after.ok:
        raise StoreError(f"{path}: still {len(after.problems)} problem(s) after repair: {after.problems[0]}")
    return before, after
