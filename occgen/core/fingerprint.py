"""Content fingerprints of source files, with a per-user cache so a re-run reads nothing it has read before.

:func:`fingerprint_files` hashes each file's BYTES (BLAKE2b) and combines them, in sorted order, with each
file's path relative to the source's own folder. The value holds no absolute path and no modification time,
so the same files copied to another machine (or materialised from a bucket) give the same fingerprint, and
a mask changed in place (same size, same name) gives another.

Reading every byte of a large dataset (CelebAMask-HQ: 30k images and a PNG per face part) on every run
would be slow, so each file's hash is cached by (absolute path, size, ``st_mtime_ns``, ``st_ctime_ns``) in one
JSON file per fingerprinted folder in ``$OCCGEN_FINGERPRINT_CACHE`` (default ``~/.cache/occgen/fingerprints``,
beside the source copies of ``~/.cache/occgen/sources``). A cached hash is used only if the file's size, mtime
and ctime are all unchanged (the ctime, which no user can set, catches bytes changed with the mtime put back);
a file changed within the last :data:`RACY_SECONDS` is never cached (a second write within one timestamp tick
would go unnoticed). The cache is a cache: deleting it costs one full read, and a cache that cannot be read or
written is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from occgen.core.files import atomic_write_text

#: Where the file hashes are cached; its own folder, apart from the source copies of ``$OCCGEN_CACHE_DIR``
#: (which ``occgen cache list`` and ``prune`` manage).
ENV_FINGERPRINT_CACHE = "OCCGEN_FINGERPRINT_CACHE"
#: A file whose mtime or ctime is this recent is hashed but not cached (file systems with coarse timestamps).
RACY_SECONDS = 2.0
_CACHE_VERSION = 2


def fingerprint_cache_dir() -> Path:
    """Where file hashes are cached: ``$OCCGEN_FINGERPRINT_CACHE`` or ``~/.cache/occgen/fingerprints``."""
    override = os.environ.get(ENV_FINGERPRINT_CACHE)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "occgen" / "fingerprints"


def hash_file_content(path: Path) -> str:
    """BLAKE2b (128 bits) of the file's bytes, read in 1 MB blocks. Every uncached read goes through here."""
    digest = hashlib.blake2b(digest_size=16)
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cache_file(root: Path) -> Path:
    return fingerprint_cache_dir() / f"{hashlib.sha256(str(root).encode()).hexdigest()[:24]}.json"


def _read_cache(path: Path, root: Path) -> dict[str, list[Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # absent, unreadable or half-written by an old version: start afresh
        return {}
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION or data.get("root") != str(root):
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def _write_cache(path: Path, root: Path, files: dict[str, list[Any]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"version": _CACHE_VERSION, "root": str(root), "files": files}))
    except OSError:  # a read-only home or full disk: fingerprints stay right, the next run just reads again
        return


def file_hashes(root: Path, files: Iterable[Path]) -> dict[str, str]:
    """Each file's content hash by its path relative to ``root`` (POSIX form), from the cache where the
    file's size, mtime and ctime match, else read (and cached unless changed just now)."""
    given = Path(root)
    root = given.resolve()  # the cache's key; the hashes' names stay relative to the folder as given
    cache_path = _cache_file(root)
    cached = _read_cache(cache_path, root)
    fresh_before = time.time_ns() - int(RACY_SECONDS * 1e9)
    hashes: dict[str, str] = {}
    changed = False
    for path in files:
        relative = Path(path).relative_to(given).as_posix()
        absolute = root / relative
        stat = os.stat(absolute)
        entry = cached.get(relative)
        key = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]
        if isinstance(entry, list) and len(entry) == 4 and entry[:3] == key:
            hashes[relative] = str(entry[3])
            continue
        hashes[relative] = hash_file_content(absolute)
        if max(stat.st_mtime_ns, stat.st_ctime_ns) < fresh_before:
            cached[relative] = [*key, hashes[relative]]
            changed = True
    if changed:
        _write_cache(cache_path, root, cached)
    return hashes


def fingerprint_files(root: Path, files: Iterable[Path], *, extra: str = "") -> str:
    """A content fingerprint of ``files`` (all under ``root``): sha256 over the sorted lines
    ``<path relative to root> <content hash>``, plus ``extra`` (e.g. a digest of a manifest's
    meaningful fields). 16 hex digits."""
    hashes = file_hashes(root, files)
    digest = hashlib.sha256(f"content-v1 {extra}\n".encode())
    for relative in sorted(hashes):
        digest.update(f"{relative}\t{hashes[relative]}\n".encode())
    return digest.hexdigest()[:16]
