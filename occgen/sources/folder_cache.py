"""Source folders at URLs (faces, textures, hands, objects): copied once per machine into a local cache.

:func:`materialise` lists the folder under a URL (one recursive listing), keys the copy by the URL and a
listing fingerprint (relative names, sizes and ETags or mtimes), and downloads it into
``$OCCGEN_CACHE_DIR`` (default ``~/.cache/occgen/sources``) as ``<name>-<key>`` unless that folder is
already there. A download goes to a temporary folder beside it and is renamed into place, so a cached
folder is always complete; several processes (dask workers) materialising the same folder at once each
download and the first rename wins (the others discard their copy): no lock is needed. A changed listing
gives a new key, hence a fresh copy; old copies stay until pruned (:func:`prune`, ``occgen cache prune``).
Beside each copy, ``<name>-<key>.json`` records its URL, file count and bytes; its modification time is
the copy's last use (each run touches it). The loaders then read the local copy unchanged, so their
content fingerprints equal those of the same folder read locally.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from occgen.core.errors import SourceError
from occgen.core.files import atomic_write_text
from occgen.core.location import Location, storage_errors
from occgen.core.paths import path_inside, safe_relative_name

ENV_CACHE_DIR = "OCCGEN_CACHE_DIR"
#: Listing keys that change when an object's bytes change, first found wins (S3, GCS, Azure, local).
_VERSION_KEYS = ("ETag", "etag", "md5Hash", "content_md5", "LastModified", "updated", "last_modified", "mtime")


def cache_dir() -> Path:
    """Where source folders at URLs are copied: ``$OCCGEN_CACHE_DIR`` or ``~/.cache/occgen/sources``."""
    override = os.environ.get(ENV_CACHE_DIR)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "occgen" / "sources"


@dataclass(frozen=True)
class CachedFolder:
    """A folder at ``location`` copied to ``local`` (``cache_dir() / key`` on the machine that copied it)."""

    location: Location
    key: str
    local: Path

    @property
    def url(self) -> str:
        return self.location.url


def _listing(location: Location) -> dict[str, dict[str, Any]]:
    """Every file under the URL, by its path relative to it; a missing bucket or prefix is one line."""
    location.check_reachable()  # missing bucket, wrong credentials, dead endpoint: one line each
    with storage_errors(location):
        fs = location.filesystem()
        fs.invalidate_cache()  # a listing cached by fsspec would hide a changed folder
        found = fs.find(location.url, detail=True)
    prefix = location.url.split("://", 1)[1].rstrip("/") + "/"
    files = {
        info["name"][len(prefix):]: info
        for info in found.values()
        if info.get("type") == "file" and info["name"].startswith(prefix) and not info["name"].endswith("/")
    }  # fmt: skip
    for name in files:  # object keys are untrusted: none may leave the copy's folder
        safe_relative_name(name, f"object key under {location.url}")
    if not files:
        raise SourceError(
            f"{location.url}: no files under this URL; check the bucket and prefix, or upload the folder first "
            f"(e.g. `aws s3 sync <local folder> {location.url}`)"
        )
    return files


def _key(location: Location, files: dict[str, dict[str, Any]]) -> str:
    digest = hashlib.sha256(f"{location.url}\n".encode())
    for name in sorted(files):
        info = files[name]
        version = next((str(info[k]) for k in _VERSION_KEYS if info.get(k) is not None), "")
        digest.update(f"{name}:{info.get('size')}:{version}\n".encode())
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", location.name)[:40] or "folder"
    return f"{stem}-{digest.hexdigest()[:16]}"


def _download(location: Location, files: dict[str, dict[str, Any]], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        names = sorted(files)
        local = [path_inside(temporary, name, f"object key under {location.url}") for name in names]
        for path in local:
            path.parent.mkdir(parents=True, exist_ok=True)
        prefix = location.url.rstrip("/")
        with storage_errors(location):
            location.filesystem().get([f"{prefix}/{n}" for n in names], [str(path) for path in local])
        short = [n for n in names if (temporary / n).stat().st_size != files[n].get("size", -1)]
        if short:
            raise SourceError(f"{location.url}/{short[0]}: downloaded size differs from the listing; retry")
        try:
            temporary.rename(target)
        except OSError:
            if not target.is_dir():  # not another process's finished copy: a real failure
                raise
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


_COPIES: dict[str, str] = {}  # local copy -> URL, for the copies this process materialised (see with_urls)


def materialise(location: Location) -> CachedFolder:
    """The folder at ``location`` (a URL) as a local copy, downloaded unless the same listing is cached."""
    files = _listing(location)
    key = _key(location, files)
    target = cache_dir() / key
    if not target.is_dir():
        _download(location, files, target)
    _record_use(target, location.url, files)
    _COPIES[str(target)] = location.url
    return CachedFolder(location, key, target)


def _record_use(target: Path, url: str, files: dict[str, dict[str, Any]]) -> None:
    """Write (or touch) the copy's manifest: its modification time is the copy's last use."""
    manifest = target.with_name(f"{target.name}.json")
    record = {"url": url, "files": len(files), "bytes": sum(int(info.get("size") or 0) for info in files.values())}
    try:
        atomic_write_text(manifest, json.dumps(record, sort_keys=True))  # concurrent workers write the same record
    except OSError:
        pass  # a read-only cache still serves its copies; only the last-use time is not kept


@dataclass(frozen=True)
class CacheEntry:
    """One cached copy: its folder, the URL it came from (None if its manifest is missing), its bytes on
    disk and when a run last used it (seconds since the epoch)."""

    path: Path
    url: str | None
    bytes: int
    last_used: float


#: The name of a copy (:func:`_key`) and of an interrupted download of one (``mkdtemp`` beside it).
_COPY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,40}-[0-9a-f]{16}$")
_DOWNLOAD_NAME = re.compile(r"^\.(?P<copy>[A-Za-z0-9._-]{1,40}-[0-9a-f]{16})(\.json)?\.[A-Za-z0-9_]+$")


def cached(root: Path | None = None) -> list[CacheEntry]:
    """The copies in the cache folder (``root``, default :func:`cache_dir`), least recently used first.

    Only what occgen made counts: a folder named like a copy (``<name>-<16 hex digits>``) with its manifest
    beside it naming a URL. Anything else in the folder (a user's own files, another tool's cache) is not an
    entry, so :func:`prune` never touches it.
    """
    root = root or cache_dir()
    if not root.is_dir():
        return []
    entries = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and _COPY_NAME.match(p.name)):
        manifest = folder.with_name(f"{folder.name}.json")
        try:
            url = json.loads(manifest.read_text()).get("url")
            used = manifest.stat().st_mtime
        except (OSError, ValueError, AttributeError):
            continue  # no readable manifest: not a copy occgen recorded
        if not isinstance(url, str):
            continue
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        entries.append(CacheEntry(folder, url, size, used))
    return sorted(entries, key=lambda entry: entry.last_used)


def prune(*, older_than_days: float | None, root: Path | None = None, now: float | None = None) -> list[CacheEntry]:
    """Delete the copies not used for ``older_than_days`` days (None: every copy) and leftovers of interrupted
    downloads older than a day; returns the copies deleted. A run still using a deleted copy downloads it again."""
    if older_than_days is not None and older_than_days < 0:
        raise SourceError(f"--older-than must be >= 0 days, got {older_than_days}")
    root = root or cache_dir()
    now = time.time() if now is None else now
    removed = []
    for entry in cached(root):
        if older_than_days is None or now - entry.last_used > older_than_days * 86400:
            shutil.rmtree(entry.path, ignore_errors=True)
            entry.path.with_name(f"{entry.path.name}.json").unlink(missing_ok=True)
            removed.append(entry)
    for leftover in root.iterdir() if root.is_dir() else ():  # .<key>.<random> download folders, manifest temps
        if not _DOWNLOAD_NAME.match(leftover.name) or now - leftover.stat().st_mtime <= 86400:
            continue
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    return removed


def with_urls(message: str) -> str:
    """``message`` with the local copies of source folders (made in this process) named by their URLs, so
    an error found by a loader in a copy (a missing manifest, an empty folder...) names what the user gave."""
    for local, url in sorted(_COPIES.items(), key=lambda item: -len(item[0])):
        message = message.replace(local, url)
    return message


def local_copy(folder: CachedFolder) -> Path:
    """``folder``'s copy on this machine (a dask worker may not see the client's): the same folder if it
    exists here, else this machine's cached copy of the same listing, else a fresh download of it."""
    if folder.local.is_dir():
        return folder.local
    here = cache_dir() / folder.key
    if here.is_dir():
        return here
    fresh = materialise(folder.location)
    if fresh.key != folder.key:
        raise SourceError(
            f"{folder.url} changed while the run was using it (its listing differs); re-run to use the new files"
        )
    return fresh.local
