"""Label storage objects (occgen/store/label_storage.py, occgen/store/clean.py): each label array's arrays,
encode and decode; write-then-read round trips through real zarr arrays."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import zarr

from occgen.store.clean import CLEAN_BOX, CLEAN_PATCH, PatchStorage, altered_box
from occgen.store.codecs import ImageCodec, parse_image_codec
from occgen.store.label_storage import LABEL_MASK_CHUNK, LabelStorage, PlainStorage
from occgen.store.schema import LABEL_STORAGES, stored_label


def write_and_read_back(tmp_path: Path, storage: LabelStorage, samples: list[np.ndarray], images: np.ndarray,
                        codec: ImageCodec) -> list[np.ndarray]:  # fmt: skip
    """Create the storage's arrays, write ``samples`` as one shard, decode every sample from the arrays."""
    group = zarr.open_group(tmp_path / "labels.zarr", mode="w", zarr_format=3)
    n, size = len(samples), images.shape[1]
    for name, options in storage.arrays(n=n, size=size, shard=n).items():
        group.create_array(name, **options)
    encoded = storage.encode(samples, images=images, codec=codec)
    assert set(encoded) == set(storage.array_names)
    for name, values in encoded.items():
        group[name][0:n] = values
    assert storage.held_by(group)

    def decode(index: int) -> np.ndarray:
        # one item as a slice, as the reader does (a single variable-length item would lose trailing NULs)
        return storage.decode(lambda name: np.asarray(group[name][index : index + 1])[0],
                              image=lambda: images[index], codec=codec)  # fmt: skip

    return [decode(index) for index in range(n)]


def test_plain_storage_round_trip_of_masks(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    masks = [rng.integers(0, 23, (12, 12), dtype=np.uint8) for _ in range(5)]
    storage = PlainStorage("parsing")
    options = storage.arrays(n=5, size=12, shard=5)["parsing"]
    assert options["shape"] == (5, 12, 12) and options["chunks"] == (math.gcd(5, LABEL_MASK_CHUNK), 12, 12)
    images = np.zeros((5, 12, 12, 3), np.uint8)
    decoded = write_and_read_back(tmp_path, storage, masks, images, parse_image_codec("zstd"))
    for mask, back in zip(masks, decoded, strict=True):
        assert back.dtype == np.uint8 and np.array_equal(back, mask)


def clean_faces(rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    images = rng.integers(0, 256, (4, 24, 24, 3), dtype=np.uint8)
    cleans = [image.copy() for image in images]
    cleans[0][3:9, 5:20] = (200, 120, 40)  # where an occluder was
    # sample 1: no difference at all (an occluder that missed the face)
    cleans[2][23, 23, 2] ^= 1  # one byte of the corner pixel
    cleans[3][:, :] = 255 - images[3]  # differs everywhere
    return images, cleans


@pytest.mark.parametrize("spec", ["zstd", "zstd:9", "jpegxl", "webp"])
def test_patch_storage_is_bit_exact_with_lossless_codecs(tmp_path: Path, spec: str) -> None:
    codec = parse_image_codec(spec)
    assert codec.lossless
    images, cleans = clean_faces(np.random.default_rng(1))
    storage = LABEL_STORAGES["clean_image"]
    assert isinstance(storage, PatchStorage) and storage.array_names == (CLEAN_BOX, CLEAN_PATCH)
    encoded = storage.encode(cleans, images=images, codec=codec)
    boxes = encoded[CLEAN_BOX]
    assert boxes.dtype == np.int32
    assert [tuple(b) for b in boxes[:2]] == [altered_box(i, c) for i, c in zip(images[:2], cleans[:2], strict=True)]
    assert tuple(boxes[1]) == (0, 0, 0, 0) and encoded[CLEAN_PATCH][1] == b""
    assert tuple(boxes[2]) == ((23, 23, 24, 24) if codec.name != "webp" else (22, 22, 24, 24))  # WebP: 2 px at least
    decoded = write_and_read_back(tmp_path, storage, cleans, images, codec)
    for clean, back in zip(cleans, decoded, strict=True):
        assert back.dtype == np.uint8 and back.shape == (24, 24, 3)
        assert np.array_equal(back, clean)


def test_patch_storage_with_a_lossy_codec_keeps_the_image_outside_the_box(tmp_path: Path) -> None:
    codec = parse_image_codec("jpeg:90")
    images, cleans = clean_faces(np.random.default_rng(2))
    decoded = write_and_read_back(tmp_path, LABEL_STORAGES["clean_image"], cleans, images, codec)
    outside = np.ones((24, 24), bool)
    outside[3:9, 5:20] = False
    assert np.array_equal(decoded[0][outside], images[0][outside])
    assert np.abs(decoded[0][3:9, 5:20].astype(int) - cleans[0][3:9, 5:20]).mean() < 6
    assert np.array_equal(decoded[1], images[1])


def test_stored_label_finds_how_a_store_keeps_each_label() -> None:
    assert isinstance(stored_label("clean_image", {CLEAN_BOX, CLEAN_PATCH, "image"}), PatchStorage)
    older = stored_label("clean_image", {"clean_image", "image"})  # occgen 0.2.0: the whole clean face
    assert older == PlainStorage("clean_image", channels=3)
    assert older.arrays(n=2, size=8, shard=2)["clean_image"]["shape"] == (2, 8, 8, 3)
    assert stored_label("clean_image", {CLEAN_BOX}) is None  # half a layout is no layout
    assert stored_label("parsing", {"parsing"}) == PlainStorage("parsing")
    assert stored_label("parsing", {"image"}) is None
    assert stored_label("image", {"image"}) is None  # not a label
