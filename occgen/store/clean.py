"""How a store keeps the ``clean`` label (issue 15): only the patch where the clean face differs from the image.

A sample's clean face and its composite differ only around the occluder (its blend alpha, soft edge and
re-blurred seam); everywhere else they are the same pixels. So a store with the ``clean`` label holds, per
sample:

- ``clean_box``   int32 (N, 4): ``[top, left, bottom, right)``, the bounding box of the pixels where the
  clean face and the composite differ (all zero when they never do);
- ``clean_patch`` variable-length bytes (N,): the clean face inside that box, encoded with the store's
  image codec (:meth:`occgen.store.codecs.ImageCodec.encode_image`; empty for an empty box).

:class:`PatchStorage` is this layout as a :class:`~occgen.store.label_storage.LabelStorage` (what the schema's
writer and reader use). Readers (:meth:`occgen.store.schema.ShardReader.labels`, and so every export) give back
``clean_image``
whole: the sample's image with the decoded patch pasted in, bit for bit the clean face when the image codec
is lossless. With a lossy codec the clean face outside the box is the decoded image, so the pair agrees
exactly wherever the occluder did not reach.

Why not a whole ``(N, S, S, 3)`` array: it doubled a store (1.98x at 512², JPEG-XL) and its encode cost more
than the issue's speed target allowed; a zero-filled array cut the bytes but JPEG-XL still spends most of
a full encode on the zeros. The box is about a fifth of the image (benchmarks/bench_labels.py,
docs/labels.md). Stores written by occgen 0.2.0 hold a whole ``clean_image`` array and are read as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from zarr.codecs import ZstdCodec
from zarr.core.dtype import VariableLengthBytes

from occgen.core.geometry import mask_bbox
from occgen.store.codecs import ImageCodec
from occgen.store.label_storage import LABEL_MASK_CHUNK, LabelStorage, SampleRead

CLEAN_BOX, CLEAN_PATCH = "clean_box", "clean_patch"

#: ``[top, left, bottom, right)`` of an empty box (a sample whose composite equals its clean face).
EMPTY_BOX = (0, 0, 0, 0)


def altered_box(image: np.ndarray, clean: np.ndarray) -> tuple[int, int, int, int]:
    """``[top, left, bottom, right)`` of the pixels where uint8 (H, W, 3) ``image`` and ``clean`` differ."""
    if image.shape != clean.shape:
        raise ValueError(f"image {image.shape} and clean image {clean.shape} differ in shape")
    difference = cv2.absdiff(np.ascontiguousarray(image), np.ascontiguousarray(clean))
    # The box of the non-zero bytes of the (H, W * 3) difference: its columns count channels.
    found = mask_bbox(difference.reshape(image.shape[0], -1))
    if found is None:
        return EMPTY_BOX
    top, left, bottom, right = found
    channels = image.shape[2] if image.ndim == 3 else 1
    return top, left // channels, bottom, -(-right // channels)


#: Image codecs that cannot encode an image narrower than this many pixels (WebP refuses a 1-pixel-wide or
#: -high image): their boxes are widened to it, into pixels that the clean face and the image share.
MIN_PATCH_SIDE = {"webp": 2}


def _widen(box: tuple[int, int, int, int], side: int, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """``box`` (not empty) grown to at least ``side`` rows and columns, inside an image of ``shape``."""
    top, left, bottom, right = box
    height, width = shape[:2]
    if bottom - top < side:
        bottom = min(top + side, height)
        top = max(bottom - side, 0)
    if right - left < side:
        right = min(left + side, width)
        left = max(right - side, 0)
    return top, left, bottom, right


def pack_clean(
    images: Sequence[np.ndarray] | np.ndarray, cleans: Sequence[np.ndarray] | np.ndarray, codec: ImageCodec
) -> tuple[np.ndarray, np.ndarray]:
    """``(boxes int32 (N, 4), patches object (N,) of bytes)`` for images and their clean faces."""
    boxes = np.zeros((len(images), 4), np.int32)
    patches = np.empty(len(images), dtype=object)
    min_side = MIN_PATCH_SIDE.get(codec.name, 1)
    for index, (image, clean) in enumerate(zip(images, cleans, strict=True)):
        top, left, bottom, right = altered_box(image, clean)
        if bottom > top and min(bottom - top, right - left) < min_side:
            top, left, bottom, right = _widen((top, left, bottom, right), min_side, image.shape)
        boxes[index] = top, left, bottom, right
        patches[index] = codec.encode_image(clean[top:bottom, left:right]) if bottom > top else b""
    return boxes, patches


def unpack_clean(image: np.ndarray, patch: bytes, box: np.ndarray | tuple[int, ...], codec: ImageCodec) -> np.ndarray:
    """The clean face: ``image`` with the decoded ``patch`` pasted into ``box``."""
    top, left, bottom, right = (int(v) for v in box)
    clean = np.array(image, np.uint8, copy=True)
    if bottom > top:
        clean[top:bottom, left:right] = codec.decode_image(patch, (bottom - top, right - left, image.shape[2]))
    return clean


@dataclass(frozen=True)
class PatchStorage(LabelStorage):
    """``label`` (``clean_image``) kept as ``clean_box`` int32 (N, 4) and ``clean_patch`` bytes (N,): the
    clean face inside the box where it differs from the sample's image (the module docstring)."""

    label: str

    @property
    def array_names(self) -> tuple[str, ...]:
        return (CLEAN_BOX, CLEAN_PATCH)

    def arrays(self, *, n: int, size: int, shard: int) -> dict[str, dict[str, Any]]:
        return {
            CLEAN_BOX: {"shape": (n, 4), "dtype": "int32", "chunks": (shard, 4), "fill_value": 0,
                        "compressors": ZstdCodec(level=3)},
            CLEAN_PATCH: {"shape": (n,), "dtype": VariableLengthBytes(), "chunks": (math.gcd(shard, LABEL_MASK_CHUNK),),
                          "shards": (shard,), "compressors": None},  # (the patches are encoded already)
        }  # fmt: skip

    def encode(self, samples: Sequence[np.ndarray], *, images: np.ndarray, codec: ImageCodec) -> dict[str, Any]:
        boxes, patches = pack_clean(images, samples, codec)
        return {CLEAN_BOX: boxes, CLEAN_PATCH: patches}

    def decode(self, read: SampleRead, *, image: Callable[[], np.ndarray], codec: ImageCodec) -> np.ndarray:
        box = np.asarray(read(CLEAN_BOX))
        return unpack_clean(image(), bytes(read(CLEAN_PATCH)), box, codec)
