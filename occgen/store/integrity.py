"""Check a store (or a mix and every store it indexes) against the shard digests written with it and against
its schema (``occgen verify``).

Each complete shard's recorded digest (:mod:`occgen.store.digest`) is compared with the bytes now stored:
a missing, truncated or changed shard object is reported by shard index and key. Only raw bytes are read
and hashed, nothing is decoded, so verifying is faster than reading the samples. The layout is checked too
(:mod:`occgen.store.structure`: the card, every array's metadata, the flags and digest records, a mix's index).
:func:`mark_for_repair` marks the bad shards unwritten, keeping their recorded digests in the card's ``repair``
record, and only then deletes their objects, so that re-running the command that wrote the store (generation
is deterministic) regenerates exactly those shards and must give back the recorded bytes
(:func:`repair_mismatches`). Stores at URLs (``s3://…``) are checked the same way, object by object.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
    card_digest,
    is_store,
    sharded_arrays,
)  # fmt: skip
from occgen.store.structure import StructureProblem, mix_problems, store_problems

Problem = ShardProblem | StructureProblem

#: Shards read at once by verify at a URL (overlapping the requests' round trips); on local disk one per core.
#: Each holds one shard object (and its bytes) in memory: about 80 MB for 64 samples at 512².
VERIFY_THREADS = 4


@dataclass(frozen=True)
class StoreCheck:
    """The result of verifying one store: its problems (empty when sound) and the bytes hashed."""

    path: Path | str  # a local path, or the store's URL
    shards: int
    problems: list[Problem] = field(default_factory=list)
    bytes_read: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def bad_shards(self) -> list[int]:
        return sorted({problem.shard for problem in self.problems if isinstance(problem, ShardProblem)})


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


def verify_one(path: Path | str | Location) -> StoreCheck:
    """Check the layout of the store at ``path`` (a path or URL) and every shard against its recorded digest."""
    started = time.perf_counter()
    location = parse_location(path)
    path = _shown(location)
    group = _open(location)
    if SHARD_DIGEST not in group:
        raise StoreError(
            f"{path} has no shard digests (written before occgen recorded them); regenerate it to verify it"
        )
    problems: list[Problem] = list(store_problems(group, read_card(group, ATTRS_KEY)))
    flags = np.asarray(array(group, SHARD_COMPLETE)[:])
    records = [str(text) for text in np.asarray(array(group, SHARD_DIGEST)[:])]
    read = 0
    # Shards are read and hashed by a thread pool (I/O and sha256 release the GIL; on S3 the requests
    # overlap); the loop below takes the results in shard order, so the report is the serial one.
    parsed = [(shard, _record(text)) for shard, (flag, text) in enumerate(zip(flags, records, strict=False))
              if flag and str(text)]  # fmt: skip
    recorded = [(shard, record) for shard, record in parsed if record is not None]
    local_root = location.path if location.is_local else None
    threads = VERIFY_THREADS if not location.is_local else max(1, min(VERIFY_THREADS, os.cpu_count() or 1))
    with ThreadPoolExecutor(threads) as pool:
        results = pool.map(lambda item: check_shard(group, item[0], item[1], local_root), recorded)
        checked = dict(zip([shard for shard, _ in recorded], results, strict=True))
    for shard, (flag, text) in enumerate(zip(flags, records, strict=False)):  # (storage errors: one line each)
        if not flag:
            problems.append(ShardProblem(shard, "(all arrays)", "unwritten", "re-run the command to resume it"))
        elif not str(text):
            key = shard_key(array(group, SAMPLE_ARRAYS[0]), shard)
            problems.append(ShardProblem(shard, key, "unrecorded", "complete but no digest"))
        else:
            if shard not in checked:  # not a digest record: the layout check names it
                problems.append(ShardProblem(shard, SHARD_DIGEST, "unrecorded", "its record cannot be read"))
                continue
            found, size = checked[shard]
            problems += found
            read += size
    return StoreCheck(path, len(records), problems, read, time.perf_counter() - started)


def _record(text: str) -> dict[str, Any] | None:
    """A shard's digest record, or None when it is not one (not JSON, or entries without key and bytes)."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    sound = isinstance(record, dict) and all(
        isinstance(entry, dict) and {"key", "bytes", "sha256"} <= set(entry) for entry in record.values()
    )
    return record if sound else None


def verify(path: Path | str | Location) -> list[StoreCheck]:
    """Check a store, or a mix (its card and index first, then every store it indexes); a missing store
    raises, naming the path."""
    location = parse_location(path)
    group = _open(location)
    card = read_card(group, ATTRS_KEY)
    if card.get("kind") != "mix":
        return [verify_one(location)]
    started = time.perf_counter()
    problems: list[Problem] = []
    stores: list[Location] = []
    sizes: list[int | None] = []
    sources: list[Any] = card["sources"] if isinstance(card.get("sources"), list) else []
    for number, source in enumerate(sources):
        store, size = _mix_store(location, number, source, problems)
        sizes.append(size)
        if store is not None:
            stores.append(store)
    problems += mix_problems(group, card, sizes)
    mix = StoreCheck(_shown(location), 0, problems, 0, time.perf_counter() - started)
    return [mix, *(verify_one(store) for store in stores)]


def _mix_store(mix: Location, number: int, source: Any, problems: list[Problem]) -> tuple[Location | None, int | None]:
    """Where store reference ``number`` of the mix at ``mix`` resolves (relative to the mix's folder) and that
    store's sample count; problems are appended (a reference to no store raises, as reading the mix does)."""
    name = f"sources[{number}]"
    if not isinstance(source, dict) or not isinstance(source.get("path"), str):
        problems.append(StructureProblem("card", f"{name} names no store path"))
        return None, None
    try:
        store = mix.parent.join(source["path"])
    except StoreError as error:
        problems.append(StructureProblem("card", f"{name}: {error}"))
        return None, None
    if not store.exists():
        raise StoreError(f"mix {_shown(mix)} refers to {_shown(store)}, which is missing; restore it (dvc pull)")
    if not is_store(store) or read_card(open_group(store, "r"), ATTRS_KEY).get("kind") == "mix":
        problems.append(StructureProblem("card", f"{name}: {source['path']} is not an occgen store"))
        return None, None
    card = read_card(open_group(store, "r"), ATTRS_KEY)
    if card_digest(card) != source.get("digest"):
        problems.append(StructureProblem("card", f"{name}: {source['path']} has been regenerated since the mix "
                                                 "was made; re-run occgen mix"))  # fmt: skip
    n = card.get("n")
    return store, n if isinstance(n, int) else None


def mark_for_repair(path: Path | str | Location, shards: list[int]) -> None:
    """Mark ``shards`` unwritten (the store becomes incomplete) and delete their objects, so that the command
    that wrote the store regenerates exactly them on its next run, and must give back the bytes they were
    recorded with (:func:`repair_mismatches`).

    The order makes every crash point leave a store that verify calls bad and readers refuse: first the card
    (``complete: false``, and the shards' recorded digests kept in its ``repair`` record), then each shard's
    flag and digest, and only then the objects."""
    if not shards:
        return
    location = parse_location(path)
    with store_lock(location, "verify --repair"):
        group = _open(location, mode="r+")
        card = read_card(group, ATTRS_KEY)
        digests = array(group, SHARD_DIGEST)
        recorded = dict((card.get("repair") or {}).get("shards", {}))
        for shard in shards:  # a record kept by an earlier, interrupted repair stays: it is the original
            if str(shard) not in recorded:
                text = str(np.asarray(digests[shard : shard + 1])[0])
                recorded[str(shard)] = _record(text) if text else None
        group.attrs[ATTRS_KEY] = {**card, "complete": False, "repair": {"shards": recorded}}
        for shard in shards:
            array(group, SHARD_COMPLETE)[shard] = 0
            digests[shard] = ""
        for shard in shards:
            for name in sharded_arrays(group):
                delete_object(group, shard_key(array(group, name), shard))


def repair_mismatches(recorded: dict[str, Any], digests: list[str]) -> list[dict[str, Any]]:
    """The arrays of repaired shards whose new digest (``digests``: the store's ``shard_digest`` texts) differs
    from the one recorded before the repair (``recorded``: the card's ``repair.shards``, ``{shard: record}``);
    each ``{"shard", "array", "old", "new"}`` with ``old``/``new`` the sha256 (None: no object). A shard recorded
    with no digest (None) cannot be proven and is not listed."""
    mismatch = []
    for shard, old in sorted(recorded.items(), key=lambda item: int(item[0])):
        if not old:
            continue
        new = _record(digests[int(shard)]) or {}
        for name in sorted(set(old) | set(new)):
            before, after = old.get(name) or {}, new.get(name) or {}
            if (before.get("bytes"), before.get("sha256")) != (after.get("bytes"), after.get("sha256")):
                mismatch.append({"shard": int(shard), "array": name, "old": before.get("sha256"),
                                 "new": after.get("sha256")})  # fmt: skip
    return mismatch


def repair_mismatch_text(mismatch: list[dict[str, Any]]) -> str:
    """One line for :func:`repair_mismatches`' result: which arrays differ, the old and new digest, and why."""

    def short(digest: str | None) -> str:
        return digest[:12] if digest else "none"

    listed = "; ".join(
        f"shard {m['shard']} {m['array']} sha256 {short(m['old'])} -> {short(m['new'])}" for m in mismatch
    )
    return (
        f"the repaired shards differ from the bytes recorded when the store was written ({listed}): this "
        "environment makes other bytes than the one that made the store (most likely other library versions: "
        "install with `pip install -c constraints.txt`), so the store stays marked incomplete; regenerate it "
        "whole with --overwrite, or into another --out"
    )
