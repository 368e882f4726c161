"""Open a dataset for reading, whether it is a store or a mix index."""

from __future__ import annotations

from pathlib import Path

import zarr

from occgen.store.mix import MixReader
from occgen.store.schema import ATTRS_KEY, ShardReader, is_store


def open_store(path: Path, *, allow_incomplete: bool = False) -> ShardReader | MixReader:
    """Open a store or a mix index (:mod:`occgen.store.mix`) for reading: ``len()``, ``[i]``, ``.card``, ``.size``."""
    path = Path(path)
    if is_store(path) and zarr.open_group(str(path), mode="r").attrs[ATTRS_KEY].get("kind") == "mix":
        return MixReader(path)
    return ShardReader(path, allow_incomplete=allow_incomplete)
