"""Shard digests come from the bytes as they are written (occgen/store/digest.py RecordingStore), never
from reading the shard back, and equal the sha256 of the objects on disk."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import zarr

import occgen.store.digest as digest_module
from occgen.store.digest import RecordingStore, recording, shard_digest
from occgen.store.schema import SHARD_DIGEST, create_store, sharded_arrays, write_shard


def shard_values(rng: np.random.Generator, count: int) -> tuple:
    images = rng.integers(0, 256, (count, 16, 16, 3), dtype=np.uint8)
    face_masks = rng.integers(0, 2, (count, 16, 16), dtype=np.uint8)
    occluder_masks = np.zeros((count, 16, 16), np.uint8)  # empty: still written (write_empty_chunks)
    metadata = [{"i": i} for i in range(count)]
    cleans = [image.copy() for image in images]
    for clean in cleans:
        clean[4:9, 2:7] = 0
    extras = {"parsing": [rng.integers(0, 23, (16, 16), dtype=np.uint8) for _ in range(count)], "clean_image": cleans}
    return images, face_masks, occluder_masks, metadata, extras


def test_digest_equals_sha256_of_the_objects_on_disk_and_nothing_is_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "s.zarr"
    group = create_store(out, n=5, size=16, shard_size=3, card={}, labels=("parsing", "clean"))

    def no_read_back(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("write_shard read a shard object back")

    monkeypatch.setattr(digest_module, "read_object", no_read_back)
    rng = np.random.default_rng(0)
    for shard, count in ((0, 3), (1, 2)):
        write_shard(group, shard, *shard_values(rng, count))
    monkeypatch.undo()
    arrays = sharded_arrays(group)
    assert set(arrays) == {"image", "face_mask", "occluder_mask", "metadata", "parsing", "clean_box", "clean_patch"}
    for shard in (0, 1):
        record = json.loads(str(np.asarray(group[SHARD_DIGEST][:])[shard]))
        assert set(record) == set(arrays)
        for entry in record.values():
            data = (out / entry["key"]).read_bytes()
            assert entry["bytes"] == len(data) > 0
            assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert shard_digest(group, shard, arrays) == record  # the same as digesting what is stored now


def test_recording_store_records_each_write_and_a_deleted_all_fill_shard(tmp_path: Path) -> None:
    group = zarr.open_group(tmp_path / "r.zarr", mode="w", zarr_format=3)
    array = group.create_array("a", shape=(4, 8), dtype="uint8", chunks=(1, 8), shards=(2, 8), fill_value=0)
    recorder = RecordingStore(group.store)
    values = np.arange(16, dtype=np.uint8).reshape(2, 8) + 1
    recording(array, recorder)[0:2] = values
    data = (tmp_path / "r.zarr" / "a" / "c" / "0" / "0").read_bytes()
    assert recorder.written == {"a/c/0/0": (len(data), hashlib.sha256(data).hexdigest())}
    recording(array, recorder)[2:4] = 0  # every value the fill value: zarr stores no object
    assert recorder.written["a/c/1/0"] is None
    assert not (tmp_path / "r.zarr" / "a" / "c" / "1" / "0").exists()
    recording(array, recorder, write_empty_chunks=True)[2:4] = 0  # unless told to write empty chunks
    assert recorder.written["a/c/1/0"] is not None and (tmp_path / "r.zarr" / "a" / "c" / "1" / "0").exists()
    assert np.array_equal(np.asarray(array[0:2]), values)  # written through the wrapper, read without it
