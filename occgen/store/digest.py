"""Content digests of store shards: the raw bytes of every array's shard object, hashed when it is written.

A store's sample arrays are sharded alike along the sample axis, so sample shard ``i`` is one object per
array (``image/c/i/0/0/0``, ``face_mask/c/i/0/0``, ``metadata/c/i``...). The writer writes a shard through a
:class:`RecordingStore` (a wrapper around the zarr store: a local folder, S3 or any other), which hashes each
object's bytes as they pass on their way out; :func:`shard_digest` records, per array, the object's key, size
and sha256 from those hashes (reading an object back only if it did not pass through the wrapper);
:func:`check_shard` compares a recorded digest with the bytes now stored.
The schema (:mod:`occgen.store.schema`) writes the record into the ``shard_digest`` array when a shard is
complete; :mod:`occgen.store.integrity` checks whole stores (``occgen verify``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zarr
from zarr.abc.store import Store
from zarr.core.array import AsyncArray
from zarr.core.array_spec import ArrayConfig
from zarr.core.buffer import Buffer, default_buffer_prototype
from zarr.core.metadata import ArrayV3Metadata
from zarr.core.sync import sync
from zarr.storage import StorePath, WrapperStore

#: What a :class:`RecordingStore` saw of one key: ``(bytes, sha256)`` of the object it wrote last, or None
#: when it deleted the object (zarr deletes a shard whose values are all the fill value).
Written = tuple[int, str] | None


def shard_key(array: zarr.Array, shard_index: int) -> str:
    """The store key of shard ``shard_index`` (along axis 0) of ``array``, e.g. ``image/c/3/0/0/0``."""
    coords = (shard_index,) + (0,) * (array.ndim - 1)
    return f"{array.path}/{array.metadata.encode_chunk_key(coords)}"


def array(group: zarr.Group, name: str) -> zarr.Array:
    """The array ``name`` of ``group`` (typed: zarr's ``group[name]`` may also be a subgroup)."""
    found = group[name]
    if not isinstance(found, zarr.Array):
        raise TypeError(f"{name} in {group.store} is a group, not an array")
    return found


def card(group: zarr.Group, key: str) -> dict[str, Any]:
    """The JSON object attribute ``key`` of ``group`` as a plain dict."""
    value = group.attrs[key]
    if not isinstance(value, dict):
        raise TypeError(f"attribute {key} of {group.store} is not an object")
    return dict(value)


def read_object(group: zarr.Group, key: str) -> bytes | None:
    """The raw bytes stored under ``key`` (None if there is no such object)."""
    buffer = sync(group.store.get(key, prototype=default_buffer_prototype()))
    return None if buffer is None else buffer.to_bytes()


def delete_object(group: zarr.Group, key: str) -> None:
    sync(group.store.delete(key))


class RecordingStore(WrapperStore[Store]):
    """A zarr store that passes everything to the store it wraps and records, for every object written
    through it, the size and sha256 of the bytes written (:attr:`written`, by key; None once deleted)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.written: dict[str, Written] = {}

    async def set(self, key: str, value: Buffer) -> None:
        await self._store.set(key, value)
        data = value.as_numpy_array().data  # the very bytes handed to the store (a view, not a copy)
        self.written[key] = (data.nbytes, hashlib.sha256(data).hexdigest())

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        for key, value in values:  # through set, so that each is recorded
            await self.set(key, value)

    async def delete(self, key: str) -> None:
        await self._store.delete(key)
        self.written[key] = None


def recording(found: zarr.Array, store: RecordingStore, **config: Any) -> zarr.Array:
    """``found`` (an opened array) writing through ``store`` (a wrapper of its own store), with the runtime
    ``config`` (e.g. ``write_empty_chunks``); no metadata is read again."""
    if not isinstance(found.metadata, ArrayV3Metadata):
        raise TypeError(f"{found.path} is not a zarr v3 array")
    merged = ArrayConfig(**{**found.config.to_dict(), **config})
    return zarr.Array(AsyncArray(metadata=found.metadata, store_path=StorePath(store, found.path), config=merged))


def shard_digest(
    group: zarr.Group, shard_index: int, arrays: Sequence[str], written: Mapping[str, Written] | None = None
) -> dict[str, Any]:
    """``{array: {"key", "bytes", "sha256"}}`` of shard ``shard_index``: from ``written`` (a
    :class:`RecordingStore`'s records of this shard's writes) where it holds the key, else as stored now.

    A shard object zarr did not write (every value the fill value) is recorded with ``bytes: None``.
    """
    record: dict[str, Any] = {}
    for name in arrays:
        key = shard_key(array(group, name), shard_index)
        if written is not None and key in written:
            seen = written[key]
            size, sha256 = seen if seen is not None else (None, None)
        else:
            data = read_object(group, key)
            size, sha256 = (None, None) if data is None else (len(data), hashlib.sha256(data).hexdigest())
        record[name] = {"key": key, "bytes": size, "sha256": sha256}
    return record


@dataclass(frozen=True)
class ShardProblem:
    """What is wrong with one array object of one shard: ``kind`` is missing, truncated, corrupt,
    unrecorded (complete but no digest) or unwritten (the shard was never finished)."""

    shard: int
    key: str
    kind: str
    detail: str = ""

    def __str__(self) -> str:
        return f"shard {self.shard}: {self.key} {self.kind}" + (f" ({self.detail})" if self.detail else "")


def read_local_object(root: Path, key: str) -> bytes | None:
    """:func:`read_object` for a store in the local folder ``root``, read straight from its file: no trip
    through zarr's event loop, so that several threads read and hash at once (``occgen verify``)."""
    try:
        return (root / key).read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _inside_store(key: str) -> bool:
    """A recorded key (untrusted: it comes from the store) that names an object inside the store's folder."""
    parts = key.split("/")
    return bool(key) and not key.startswith("/") and "\\" not in key and all(p not in ("", ".", "..") for p in parts)


def check_shard(
    group: zarr.Group, shard_index: int, record: dict[str, Any], local_root: Path | None = None
) -> tuple[list[ShardProblem], int]:
    """Compare a recorded digest with the stored bytes; returns the problems and the bytes read. With
    ``local_root`` (the store's folder, for a local store) the objects are read from their files."""
    problems, read = [], 0
    for entry in record.values():
        key, size = entry["key"], entry["bytes"]
        if not isinstance(key, str) or not _inside_store(key):
            problems.append(ShardProblem(shard_index, str(key), "corrupt", "the record names a key outside the store"))
            continue
        data = read_object(group, key) if local_root is None else read_local_object(local_root, key)
        if data is None:
            if size is not None:
                problems.append(ShardProblem(shard_index, key, "missing", f"expected {size} bytes"))
            continue
        read += len(data)
        if size is None:
            problems.append(ShardProblem(shard_index, key, "corrupt", "an object where none was written"))
        elif len(data) < size:
            problems.append(ShardProblem(shard_index, key, "truncated", f"{len(data)} of {size} bytes"))
        elif len(data) != size or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            problems.append(ShardProblem(shard_index, key, "corrupt", "content differs from its digest"))
    return problems, read
