"""Check a store (or every store of a mix) against the shard digests written with it (``occgen verify``).

Each complete shard's recorded digest (:mod:`occgen.store.digest`) is compared with the bytes now stored:
a missing, truncated or changed shard object is reported by shard index and key. Only raw bytes are read
and hashed, nothing is decoded, so verifying is faster than reading the samples. :func:`mark_for_repair`
deletes the bad shards' objects and marks them unwritten, so that re-running the command that wrote the
store (generation is deterministic) regenerates exactly those shards. Stores at URLs (``s3://…``) are
checked the same way, object by object.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import zarr

from occgen.core.errors import StoreError
from occgen.core.location import Location, parse_location
from occgen.store.digest import ShardProblem, array, check_shard, delete_object, shard_key
from occgen.store.digest import card as read_card
from occgen.store.group import open_group
from occgen.store.lock import store_lock
from occgen.store.schema import (
    ATTRS_KEY,
    SAMPLE_ARRAYS,
    SHARD_COMPLETE,
    SHARD_DIGEST,
    is_store,
    sharded_arrays,
)  # fmt: skip

#: Shards read at once by verify at a URL (overlapping the requests' round trips); on local disk one per core.
#: Each holds one shard object (and its bytes) in memory: about 80 MB for 64 samples at 512².
VERIFY_THREADS = 4


@dataclass(frozen=True)
class StoreCheck:
    """The result of verifying one store: its problems (empty when sound) and the bytes hashed."""

    path: Path | str  # a local path, or the store's URL
    shards: int
    problems: list[ShardProblem] = field(default_factory=list)
    bytes_read: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def bad_shards(self) -> list[int]:
        return sorted({problem.shard for problem in self.problems})


def _open(path: Path | str | Location, mode: Literal["r", "r+"] = "r") -> zarr.Group:
    location = parse_location(path)
    location.check_reachable()
    if not location.exists():
        raise StoreError(f"store not found: {_shown(location)}")
    if not is_store(location):
        raise StoreError(f"{_shown(location)} is not an occgen store or mix")
    return open_group(location, mode)


def _shown(location: Location) -> Path | str:
    return location.path if location.is_local else location.url


def store_paths(path: Path | str | Location) -> list[Location]:
    """The stores to check for ``path``: itself, or, for a mix, each store it indexes."""
    location = parse_location(path)
    card = read_card(_open(location), ATTRS_KEY)
    if card.get("kind") != "mix":
        return [location]
    return [location.parent.join(source["path"]) for source in card["sources"]]


def verify_one(path: Path | str | Location) -> StoreCheck:
    """Check every shard of the store at ``path`` (a path or URL) against its recorded digest."""
    started = time.perf_counter()
    location = parse_location(path)
    path = _shown(location)
    group = _open(location)
    if SHARD_DIGEST not in group:
        raise StoreError(
            f"{path} has no shard digests (written before occgen recorded them); regenerate it to verify it"
        )
    flags = np.asarray(array(group, SHARD_COMPLETE)[:])
    records = [str(text) for text in np.asarray(array(group, SHARD_DIGEST)[:])]
    problems: list[ShardProblem] = []
    read = 0
    # Shards are read and hashed by a thread pool (I/O and sha256 release the GIL; on S3 the requests
    # overlap); the loop below takes the results in shard order, so the report is the serial one.
    recorded = [(shard, json.loads(str(text))) for shard, (flag, text) in enumerate(zip(flags, records, strict=True))
                if flag and str(text)]  # fmt: skip
    threads = VERIFY_THREADS if not location.is_local else max(1, min(VERIFY_THREADS, os.cpu_count() or 1))
    with ThreadPoolExecutor(threads) as pool:
        checked = dict(zip([shard for shard, _ in recorded],
                           pool.map(lambda item: check_shard(group, *item), recorded), strict=True))  # fmt: skip
    for shard, (flag, text) in enumerate(zip(flags, records, strict=True)):  # (storage errors: one line each)
        if not flag:
            problems.append(ShardProblem(shard, "(all arrays)", "unwritten", "re-run the command to resume it"))
        elif not str(text):
            key = shard_key(array(group, SAMPLE_ARRAYS[0]), shard)
            problems.append(ShardProblem(shard, key, "unrecorded", "complete but no digest"))
        else:
            found, size = checked[shard]
            problems += found
            read += size
    return StoreCheck(path, len(records), problems, read, time.perf_counter() - started)


def verify(path: Path | str | Location) -> list[StoreCheck]:
    """Check a store, or every store of a mix (missing stores raise, naming the path)."""
    checks = []
    for store in store_paths(path):
        if not store.exists():
            raise StoreError(f"mix {path} refers to {_shown(store)}, which is missing; restore it (dvc pull)")
        checks.append(verify_one(store))
    return checks


def mark_for_repair(path: Path | str | Location, shards: list[int]) -> None:
    """Delete the objects of ``shards`` and mark them unwritten (the store becomes incomplete), so that
    the command that wrote the store regenerates exactly them on its next run."""
    if not shards:
        return
    location = parse_location(path)
    with store_lock(location, "verify --repair"):
        group = _open(location, mode="r+")
        for shard in shards:
            for name in sharded_arrays(group):
                delete_object(group, shard_key(array(group, name), shard))
            array(group, SHARD_DIGEST)[shard] = ""
            array(group, SHARD_COMPLETE)[shard] = 0
        card = read_card(group, ATTRS_KEY)
        card["complete"] = False
        group.attrs[ATTRS_KEY] = card
