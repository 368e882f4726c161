"""What ``occgen verify`` checks besides the shards' bytes: that a store or a mix is laid out as its card says.

For a store: the card (required keys, their types, finished, no repair pending or failed), every array's
metadata (shape, data type, chunks and shards against the schema for the card's ``n``, ``shard_size``,
``size`` and labels, :func:`occgen.store.schema.array_options`), the ``shard_complete`` flags (0 or 1) and
the ``shard_digest`` records (JSON, one entry per sharded array naming that array's shard object). For a
mix: its card, its ``store_index`` / ``sample_index`` arrays (one entry per sample, every entry inside its
store's range) and its store references. Each problem is a :class:`StructureProblem`, printed as one line
naming the array (or ``card``); :mod:`occgen.store.integrity` adds them to the shard checks.
:func:`remake_refusal` says why ``generate`` may not remake an occgen group that lacks a store's arrays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr

from occgen.core.labels import LABEL_ARRAYS
from occgen.core.location import Location
from occgen.store.clips import clip_layout_problems
from occgen.store.digest import array as zarr_array
from occgen.store.digest import card as read_card
from occgen.store.digest import shard_key
from occgen.store.group import open_group
from occgen.store.schema import (
    ATTRS_KEY,
    SCHEMA_VERSION,
    SHARD_COMPLETE,
    SHARD_DIGEST,
    array_options,
    shard_count,
    sharded_arrays,
    sized_for_card,
    stored_label,
    stored_labels,
)  # fmt: skip

STORE_CARD_KEYS = ("schema_version", "occgen_version", "recipe", "seed", "n", "size", "shard_size", "complete")
MIX_CARD_KEYS = ("kind", "schema_version", "n", "size", "sources")
MIX_SOURCE_KEYS = ("path", "count", "of", "digest")


@dataclass(frozen=True)
class StructureProblem:
    """Something wrong with the layout of a store or mix rather than with one shard's bytes: ``array`` is the
    array concerned, or ``card`` for the dataset card."""

    array: str
    detail: str

    def __str__(self) -> str:
        return f"{self.array}: {self.detail}"


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _native(dtype: Any) -> str:
    """A data type as zarr's create_array takes it (``"uint8"``, ``str``, a zarr dtype) -> numpy's name for it."""
    if dtype is str:
        return str(np.dtypes.StringDType())
    if hasattr(dtype, "to_native_dtype"):
        return str(dtype.to_native_dtype())
    return str(np.dtype(dtype))


def _array_problems(found: zarr.Array, name: str, expected: dict[str, Any], why: str) -> list[StructureProblem]:
    problems = []
    shards = expected.get("shards")
    wanted = {"shape": tuple(expected["shape"]), "dtype": _native(expected["dtype"]),
              "chunks": tuple(expected["chunks"]), "shards": None if shards is None else tuple(shards)}  # fmt: skip
    dtype = found.metadata.data_type.to_native_dtype()  # type: ignore[union-attr]
    actual = {"shape": tuple(found.shape), "dtype": str(dtype), "chunks": tuple(found.chunks),
              "shards": None if found.shards is None else tuple(found.shards)}  # fmt: skip
    for key, value in wanted.items():
        if actual[key] != value:
            problems.append(StructureProblem(name, f"{key} {actual[key]}, expected {value} ({why})"))
    return problems


def card_problems(card: dict[str, Any]) -> list[StructureProblem]:
    """The store card's missing or ill-typed keys, and an unfinished run or repair."""
    problems = [StructureProblem("card", f"no {key!r} key") for key in STORE_CARD_KEYS if key not in card]
    for key in ("n", "size", "shard_size"):
        if key in card and not _count(card[key]):
            problems.append(StructureProblem("card", f"{key} is {card[key]!r}, expected a positive integer"))
    if "schema_version" in card and card["schema_version"] != SCHEMA_VERSION:
        problems.append(
            StructureProblem("card", f"schema version {card['schema_version']!r}, expected {SCHEMA_VERSION}")
        )
    repair = card.get("repair") or {}
    if repair.get("mismatch"):
        shards = sorted({int(entry["shard"]) for entry in repair["mismatch"]})
        problems.append(StructureProblem("card", f"repaired shard(s) {shards} differ from the digests recorded "
                                                 "before the repair (see docs/integrity.md)"))  # fmt: skip
    elif repair:
        problems.append(StructureProblem("card", f"a repair of shard(s) {sorted(map(int, repair.get('shards', {})))} "
                                                 "is unfinished: re-run the command that wrote the store"))  # fmt: skip
    elif "complete" in card and card["complete"] is not True:
        problems.append(StructureProblem("card", "not complete: re-run the command that wrote the store to finish it"))
    problems += [StructureProblem("card", text) for text in clip_layout_problems(card)]  # clip stores (issue 27)
    return problems


def store_problems(group: zarr.Group, card: dict[str, Any]) -> list[StructureProblem]:
    """Everything :func:`card_problems` finds, then (if the card's sizes are sound) every array's metadata, the
    flags and the digest records of the store ``group``."""
    problems = card_problems(card)
    if not all(_count(card.get(key)) for key in ("n", "size", "shard_size")):
        return problems  # no schema to check the arrays against
    n, size, shard_size = int(card["n"]), int(card["size"]), int(card["shard_size"])
    why = f"card: n {n}, size {size}, shard size {shard_size}"
    expected = array_options(n=n, size=size, shard_size=shard_size)
    for storage in stored_labels(group).values():
        expected.update(sized_for_card(storage, card).arrays(n=n, size=size, shard=min(shard_size, n)))
    for label in card.get("generation", {}).get("labels", ()):
        name = LABEL_ARRAYS.get(label, label)
        if stored_label(name, group) is None:
            problems.append(StructureProblem(name, f"missing (the card's labels name {label!r})"))
    present = set(group.array_keys())
    for name, options in expected.items():
        if name not in present:
            problems.append(StructureProblem(name, "missing array"))
        else:
            problems += _array_problems(zarr_array(group, name), name, options, why)
    if problems or SHARD_DIGEST not in present:
        return problems  # the flags and records cannot be read as the schema says
    return problems + _record_problems(group, shard_count(n, shard_size))


def _record_problems(group: zarr.Group, shards: int) -> list[StructureProblem]:
    flags = np.asarray(zarr_array(group, SHARD_COMPLETE)[:])
    problems = [StructureProblem(SHARD_COMPLETE, f"shard {int(i)} has flag {int(flags[i])}, expected 0 or 1")
                for i in np.flatnonzero((flags != 0) & (flags != 1))]  # fmt: skip
    names = sharded_arrays(group)
    opened = {name: zarr_array(group, name) for name in names}  # opened once: each open reads its metadata
    keys = {name: [shard_key(opened[name], shard) for shard in range(shards)] for name in names}
    for shard, text in enumerate(np.asarray(zarr_array(group, SHARD_DIGEST)[:])):
        if not str(text):
            continue  # unwritten, or complete without a record: the shard check reports it
        try:
            record = json.loads(str(text))
        except ValueError:
            problems.append(StructureProblem(SHARD_DIGEST, f"shard {shard}: the record is not JSON"))
            continue
        if not isinstance(record, dict):
            problems.append(StructureProblem(SHARD_DIGEST, f"shard {shard}: the record is not a JSON object"))
            continue
        for name in names:
            entry = record.get(name)
            if not isinstance(entry, dict) or not {"key", "bytes", "sha256"} <= set(entry):
                problems.append(StructureProblem(SHARD_DIGEST, f"shard {shard}: no digest of {name}"))
            elif entry["key"] != keys[name][shard]:
                named = f"names {entry['key']!r}, not {keys[name][shard]!r}"
                problems.append(StructureProblem(SHARD_DIGEST, f"shard {shard}: the digest of {name} {named}"))
        for name in sorted(set(record) - set(names)):
            problems.append(StructureProblem(SHARD_DIGEST, f"shard {shard}: a digest of {name}, which the store lacks"))
    return problems


def mix_problems(group: zarr.Group, card: dict[str, Any], store_sizes: list[int | None]) -> list[StructureProblem]:
    """The mix card's missing keys, its index arrays' shapes and data types, and index entries outside their
    store's range (``store_sizes``: the sample count of each referenced store, None where it cannot be read)."""
    problems = [StructureProblem("card", f"no {key!r} key") for key in MIX_CARD_KEYS if key not in card]
    sources: list[Any] = card["sources"] if isinstance(card.get("sources"), list) else []
    for number, source in enumerate(sources):
        missing = [key for key in MIX_SOURCE_KEYS if not isinstance(source, dict) or key not in source]
        if missing:
            problems.append(StructureProblem("card", f"sources[{number}] has no {', '.join(missing)}"))
    n = card.get("n")
    present = set(group.array_keys())
    arrays: dict[str, np.ndarray] = {}
    for name, dtype in (("store_index", "uint8"), ("sample_index", "int64")):
        if name not in present:
            problems.append(StructureProblem(name, "missing array"))
            continue
        values = np.asarray(zarr_array(group, name)[:])
        if values.dtype != np.dtype(dtype) or values.ndim != 1 or (_count(n) and len(values) != n):
            problems.append(
                StructureProblem(name, f"{values.dtype} {values.shape}, expected {dtype} ({n},) (card: n {n})")
            )
            continue
        arrays[name] = values
    if len(arrays) < 2 or problems:
        return problems
    stores, samples = arrays["store_index"], arrays["sample_index"]
    if len(stores) and int(stores.max()) >= len(sources):
        problems.append(StructureProblem("store_index", f"entries up to {int(stores.max())}, but the mix names "
                                                        f"{len(sources)} store(s)"))  # fmt: skip
    for number, source in enumerate(sources):
        local = samples[stores == number]
        limits = [value for value in (source.get("of"), store_sizes[number] if number < len(store_sizes) else None)
                  if value is not None]  # fmt: skip
        if len(local) != source.get("count"):
            problems.append(StructureProblem("store_index", f"{len(local)} samples of {source['path']}, the card "
                                                            f"says {source.get('count')}"))  # fmt: skip
        if len(local) and (int(local.min()) < 0 or any(int(local.max()) >= int(limit) for limit in limits)):
            problems.append(StructureProblem(
                "sample_index", f"entries {int(local.min())}..{int(local.max())} of {source['path']}, which holds "
                f"{min(map(int, limits)) if limits else '?'} samples"
            ))  # fmt: skip
    return problems


def remake_refusal(path: Location) -> str | None:
    """Why the occgen group at ``path``, which lacks some of a store's arrays, is not a creation by
    :func:`~occgen.store.schema.create_store` interrupted before any shard (the one thing ``generate`` remakes
    unasked); None if it is."""
    group = open_group(path, "r")
    card = read_card(group, ATTRS_KEY)
    if card.get("kind") == "mix":
        return "is a mix index, not a store"
    if "generation" not in card or card.get("schema_version") != SCHEMA_VERSION:
        return "is an occgen group that this generate did not begin (it lacks a store's arrays)"
    if card.get("complete") or SHARD_COMPLETE in group and np.asarray(zarr_array(group, SHARD_COMPLETE)[:]).any():
        return "is a store with written shards that lacks some of its arrays"
    for name in group.array_keys():  # a chunk object: something was written after the creation
        if name not in (SHARD_COMPLETE, SHARD_DIGEST) and path.join(f"{name}/c").exists():
            return f"is a store that lacks some of its arrays but holds written {name} data"
    return None
