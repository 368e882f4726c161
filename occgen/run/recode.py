"""Re-encode an existing store with another image codec (``occgen recode``).

The source store is read sample by sample and written shard by shard through the same driver as
generation (:func:`occgen.run.generate.generate`): parallel, resumable, one writer per shard. The output's
card is the source's, with the new codec; masks and metadata are copied unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from occgen.core.labels import LABEL_ARRAYS
from occgen.core.location import Location, parse_location
from occgen.recipes.base import Sample
from occgen.run.generate import GenerateReport, ProgressCallback, generate
from occgen.store.schema import ShardReader


class StoreRecipe:
    """A recipe whose sample ``i`` is sample ``i`` of an existing store (picklable: reopens lazily)."""

    def __init__(self, path: Path | str | Location) -> None:
        self.path = parse_location(path)  # absolute (or a URL): the recipe travels to dask workers
        reader = ShardReader(self.path)
        self.card: dict[str, Any] = reader.card
        self.name: str = self.card["recipe"]
        self.seed: int = int(self.card["seed"])
        self.size: int = int(self.card["size"])
        self.n: int = len(reader)
        # The optional label arrays are copied too (--labels names, occgen/core/labels.py).
        self.labels = tuple(name for name, array in LABEL_ARRAYS.items() if array in reader.label_names)
        self._reader: ShardReader | None = reader

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_reader": None}

    def make(self, index: int) -> Sample:
        if self._reader is None:
            self._reader = ShardReader(self.path)
        stored = self._reader[index]
        return Sample(stored.image, stored.face_mask, stored.occluder_mask, stored.metadata,
                      self._reader.labels(index, stored.image))  # fmt: skip

    def params(self) -> dict[str, Any]:
        return self.card.get("params", {})

    def sources(self) -> dict[str, Any]:
        return self.card.get("sources", {})


def recode(
    source: Path | str | Location,
    out: Path | str | Location,
    *,
    image_codec: str,
    shard_size: int | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    overwrite: bool = False,
    on_progress: ProgressCallback | None = None,
) -> GenerateReport:
    """Write the samples of ``source`` into a new store ``out`` whose images use ``image_codec``."""
    recipe = StoreRecipe(source)
    return generate(
        recipe, out, n=recipe.n, shard_size=shard_size or int(recipe.card["shard_size"]), workers=workers,
        scheduler=scheduler, overwrite=overwrite, image_codec=image_codec, on_progress=on_progress,
        labels=recipe.labels,
    )  # fmt: skip
