"""Source folders given as URLs (``s3://bucket/faces``): read from a local copy, recorded by their URL.

A source class mixes in :class:`UrlRoot` and passes its ``root`` through :meth:`UrlRoot._local_root`: a
path stays as it is (``file://`` URLs become paths); another URL is copied into the local cache
(:mod:`occgen.sources.folder_cache`) and the source then reads that copy with its usual code, so the
content fingerprints are those of the same folder read locally. :meth:`UrlRoot.root_label` is the URL for
the store card. Unpickled on a dask worker of another machine, the source finds or makes its own copy and
moves its paths there (:meth:`UrlRoot.__setstate__`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from occgen.core.files import is_url
from occgen.core.location import Location, parse_location
from occgen.sources.folder_cache import CachedFolder, local_copy, materialise


def _rebase(value: Any, old: Path, new: Path) -> Any:
    """``value`` with every path under ``old`` moved under ``new`` (through lists, tuples, dicts and frozen
    dataclasses such as the hands' entries)."""
    if isinstance(value, Path):
        return new / value.relative_to(old) if value.is_relative_to(old) else value
    if isinstance(value, list | tuple):
        return type(value)(_rebase(item, old, new) for item in value)
    if isinstance(value, dict):
        return {key: _rebase(item, old, new) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _rebase(getattr(value, f.name), old, new) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    return value


def open_root(root: str | os.PathLike[str] | Location) -> Path | CachedFolder:
    """A path as a path (``file://`` URLs too); a URL's folder copied into the local cache."""
    if not isinstance(root, Location) and not is_url(root):
        return Path(root)
    location = parse_location(root)
    return location.path if location.is_local else materialise(location)


def local_path(root: Path | CachedFolder) -> Path:
    return root.local if isinstance(root, CachedFolder) else root


class UrlRoot:
    """Mixin for sources whose folder may be a URL (see the module docstring)."""

    _cached: CachedFolder | None = None

    def _local_root(self, root: str | os.PathLike[str] | Location | CachedFolder) -> Path:
        if isinstance(root, CachedFolder):
            self._cached = root
            return root.local
        if not isinstance(root, Location) and not is_url(root):
            return Path(root)
        location = parse_location(root)
        if location.is_local:
            return location.path
        self._cached = materialise(location)
        return self._cached.local

    def root_label(self, root: Path | None) -> str:
        """Where the source is, for the store card: its URL, or its local path."""
        return self._cached.url if self._cached is not None else str(root)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        cached = state.get("_cached")
        if cached is not None:
            here = local_copy(cached)
            if here != cached.local:
                self.__dict__.update(_rebase(dict(state), cached.local, here))
                self._cached = dataclasses.replace(cached, local=here)
