"""Open a dataset for reading, whether it is a store or a mix index, at a path or URL."""

from __future__ import annotations

from pathlib import Path

from occgen.store.location import Location, open_group, parse_location
from occgen.store.mix import MixReader
from occgen.store.schema import ATTRS_KEY, ShardReader, is_store


def open_store(path: Path | str | Location, *, allow_incomplete: bool = False) -> ShardReader | MixReader:
    """Open a store or a mix index (:mod:`occgen.store.mix`) for reading: ``len()``, ``[i]``, ``.card``, ``.size``.

    ``path`` may be a URL (``s3://bucket/x.zarr``, see :mod:`occgen.store.location`).
    """
    location = parse_location(path)
    location.check_reachable()
    if is_store(location) and open_group(location, "r").attrs[ATTRS_KEY].get("kind") == "mix":
        return MixReader(location)
    return ShardReader(location, allow_incomplete=allow_incomplete)
