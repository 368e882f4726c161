"""Open a dataset for reading, whether it is a store or a mix index, at a path or URL."""

from __future__ import annotations

from pathlib import Path

from occgen.core.location import Location, parse_location
from occgen.store.dataset import Dataset
from occgen.store.digest import card as read_card
from occgen.store.group import open_group
from occgen.store.mix import MixReader
from occgen.store.schema import ATTRS_KEY, ShardReader, is_store


def open_store(path: Path | str | Location, *, allow_incomplete: bool = False) -> Dataset:
    """Open a store or a mix index (:mod:`occgen.store.mix`) for reading, as a :class:`occgen.store.dataset.Dataset`
    (``len()``, ``[i]``, ``.card``, ``.size``, ``.parts``, ``.locate(i)``, ``.metadata(indices)``...).

    ``path`` may be a URL (``s3://bucket/x.zarr``, see :mod:`occgen.core.location`). ``allow_incomplete``
    opens an interrupted store (a mix's stores are always complete).
    """
    location = parse_location(path)
    location.check_reachable()
    if is_store(location) and read_card(open_group(location, "r"), ATTRS_KEY).get("kind") == "mix":
        return MixReader(location)
    return ShardReader(location, allow_incomplete=allow_incomplete)
