"""Open a zarr group at a :class:`~occgen.core.location.Location` (a path or a URL), storage failures as one line."""

from __future__ import annotations

from typing import Literal

import zarr

from occgen.core.errors import StoreError
from occgen.core.location import READ_ONLY_PROTOCOLS, Location, storage_errors


def open_group(location: Location, mode: Literal["r", "r+", "a", "w", "w-"]) -> zarr.Group:
    """``zarr.open_group`` at ``location`` (``mode`` as zarr's), storage failures as one line."""
    if mode != "r" and location.protocol in READ_ONLY_PROTOCOLS:
        raise StoreError(f"{location.url}: {location.protocol}:// is read-only; write stores to a path or s3:// URL")
    with storage_errors(location):
        return zarr.open_group(location.zarr_store(read_only=mode == "r"), mode=mode, zarr_format=3)
