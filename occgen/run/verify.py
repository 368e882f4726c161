"""Repair a store: regenerate exactly the shards that fail verification, then verify again.

Generation is deterministic (samples depend only on seed, recipe and index), so rewriting a bad shard
with the recipe that made the store gives back its original bytes. The recipe and run settings must be
the ones the store was made with: they are checked against the store's generation spec before anything
is deleted (a mismatch is refused listing each differing key, as a resume is). The repair must also prove
itself: each regenerated shard's digest must equal the one recorded before the repair, else the run fails
naming the arrays and digests and the store stays incomplete (``generate``'s finish, with
:func:`occgen.store.integrity.repair_mismatches`).
"""

from __future__ import annotations

from pathlib import Path

from occgen.core.errors import StoreError
from occgen.core.labels import parse_labels
from occgen.core.location import Location, parse_location
from occgen.recipes.base import Recipe
from occgen.run.generate import ProgressCallback, generate
from occgen.run.spec import generation_spec, recipe_exemptions, spec_differences
from occgen.store.codecs import parse_image_codec
from occgen.store.digest import card as read_card
from occgen.store.group import open_group
from occgen.store.integrity import StoreCheck, mark_for_repair, verify_one
from occgen.store.lock import store_lock
from occgen.store.schema import ATTRS_KEY


def repair_store(
    recipe: Recipe,
    path: Path | str | Location,
    *,
    n: int | None = None,
    shard_size: int | None = None,
    image_codec: str | None = None,
    labels: str | tuple[str, ...] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> tuple[StoreCheck, StoreCheck]:
    """Verify ``path``, regenerate its bad shards with ``recipe``, verify again; returns (before, after).

    ``n``, ``shard_size``, ``image_codec`` and ``labels`` default to the store's own. ``path`` may be a URL.
    """
    location = parse_location(path)
    with store_lock(location, "repair"):
        return _repair_locked(recipe, location, n, shard_size, image_codec, labels, workers, scheduler, on_progress)


def _repair_locked(
    recipe: Recipe, path: Location, n: int | None, shard_size: int | None, image_codec: str | None,
    labels: str | tuple[str, ...] | None, workers: int, scheduler: str | None, on_progress: ProgressCallback | None,
) -> tuple[StoreCheck, StoreCheck]:  # fmt: skip
    card = read_card(open_group(path, "r"), ATTRS_KEY)
    if "shard_size" not in card or "n" not in card:  # e.g. a mix index: nothing generate could regenerate
        raise StoreError(f"{path.url} is not a store made by generate; --repair regenerates shards of such stores")
    n, shard_size = n or int(card["n"]), shard_size or int(card["shard_size"])
    image_codec = parse_image_codec(image_codec or card["image_codec"]).spec
    stored = card.get("generation", {})
    labels = parse_labels(stored.get("labels", ()) if labels is None else labels)
    spec = generation_spec(recipe, n, shard_size, image_codec, labels)
    changed = spec_differences(stored, spec, recipe_exemptions(recipe))
    if changed:
        raise StoreError(
            f"{path.url} was made with different settings (differs in: {'; '.join(changed)}); repair it with the "
            "settings that made it"
        )
    before = verify_one(path)
    mark_for_repair(path, before.bad_shards)
    generate(recipe, path, n=n, shard_size=shard_size, workers=workers, scheduler=scheduler,
             image_codec=image_codec, on_progress=on_progress, labels=labels)  # fmt: skip
    after = verify_one(path)
    if not after.ok:
        raise StoreError(f"{path.url}: still {len(after.problems)} problem(s) after repair: {after.problems[0]}")
    return before, after
