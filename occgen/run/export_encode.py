"""Samples of a dataset encoded for the sharded exports (WebDataset, Hugging Face): keys, files, metadata.

Where it sits: below :mod:`occgen.run.export_shards` (which plans and runs the export through
:mod:`occgen.run.export_base`) and the formats :mod:`occgen.run.export_webdataset`, :mod:`occgen.run.export_hf`
and :mod:`occgen.run.export_card`. Reads any dataset through the protocol (:mod:`occgen.store.dataset`).
Keys are built from the store's sanitised name, digest and index (never from a sample id), and checked by
:func:`occgen.run.export_base.check_sample_name` before they become member or file names.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import StoreError
from occgen.core.imageio import encode_png
from occgen.run.export_base import check_sample_name, work_dir
from occgen.store import open_store
from occgen.store.codecs import parse_image_codec
from occgen.store.dataset import Dataset
from occgen.store.schema import FACE_MASK, IMAGE, OCCLUDER_MASK, StoredSample

SPLITS = ("train", "validation")
# Label arrays another part of occgen may add to a store (issue 15); exported when every store has them.
# (store array, field name in the exports, kind): kind "rgb" follows --image-format, "binary" is a {0, 1}
# mask written as 0/255 PNG, "labels" is a PNG of the stored values.
LABELS = (
    ("face_mask", "face", "binary"),
    ("occluder_mask", "occluder", "labels"),
    ("parsing", "parsing", "labels"),
    ("face_mask_amodal", "face_amodal", "binary"),
    ("clean_image", "clean", "rgb"),
    ("occluder_class", "occluder_class", "labels"),
    ("occluder_instances", "occluder_instances", "labels"),
    ("face_mask_soft", "face_soft", "labels"),
)
BASE_ARRAYS = ("face_mask", "occluder_mask")
#: Per-point label arrays: exported as fields of the sample's metadata JSON (``landmarks``: [x, y] or null per
#: point, in the card's ``labels.landmarks.names`` order; ``landmark_visible``: 0/1 per point).
POINT_LABELS = ("landmarks", "landmark_visible")
PROBE_SAMPLES = 4  # encoded once more to size the tasks: a fixed cost, small beside any real export
SAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True, kw_only=True)
class ShardSpec:
    """What determines the exported bytes (compared on resume), plus where they go."""

    store: str
    out: str
    format: str
    image_format: str
    jpeg_quality: int
    shard_bytes: int
    val_frac: float
    seed: int
    shuffle: bool = False  # samples of each split in a seeded random order (stream 97), not store order
    labels: tuple[str, ...] = ()  # the optional label arrays the store has (names from LABELS)

    def settings(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "out"} | {"labels": list(self.labels)}

    @property
    def work_dir(self) -> Path:
        return work_dir(self.out)


@dataclass(frozen=True)
class EncodedSample:
    """One sample ready to write: ``files`` are (field, extension, bytes) in a fixed order."""

    key: str
    files: list[tuple[str, str, bytes]]
    metadata: dict[str, Any]


# --- keys ----------------------------------------------------------------------------------------------


def store_tags(dataset: Dataset) -> tuple[str, ...]:
    """One tag per store (part) of a dataset: ``<name>-<digest>``, e.g. ``randocc-3f9a1c2e``.

    The digest (:func:`occgen.store.card_digest`, what determines the store's content) makes keys unique across
    mixes and exports; a store listed twice in one mix gets ``-p<position>`` on its later tags. Keys are
    ``<tag>-<index in that store, 8 digits>``: only ``[A-Za-z0-9_-]``, never a dot (WebDataset and DALI
    split the key from the extension at the first dot, formats.md §1).
    """
    tags: list[str] = []
    for part in dataset.parts:
        stem = SAFE.sub("-", Path(part.name).name.removesuffix(".zarr")).strip("-")[:32] or "store"
        tag = f"{stem}-{part.digest[:8]}"
        tags.append(tag if tag not in tags else f"{tag}-p{part.number}")
    return tuple(tags)


def sample_key(tags: tuple[str, ...], part: int, index: int) -> str:
    return f"{tags[part]}-{index:08d}"


def locate(dataset: Dataset, index: int) -> tuple[Dataset, int, int]:
    """The store reader, its part number (0 for a store) and the sample's index in that store."""
    part, local = dataset.locate(index)
    return part.reader, part.number, local


def present_labels(dataset: Dataset) -> tuple[str, ...]:
    """Optional label arrays (beyond face and occluder masks) that every store behind ``dataset`` has."""
    names = [name for name, _, _ in LABELS if name not in BASE_ARRAYS] + list(POINT_LABELS)
    return tuple(name for name in names if name in dataset.label_names)


def point_label_json(name: str, array: np.ndarray) -> list[Any]:
    """A per-point label as JSON: ``landmarks`` -> [[x, y] or None per point]; ``landmark_visible`` -> [0/1]."""
    if name == "landmarks":
        return [[float(x), float(y)] if np.isfinite([x, y]).all() else None for x, y in array.tolist()]
    return [int(v) for v in array.tolist()]


# --- encoding ------------------------------------------------------------------------------------------


def encode_rgb(rgb: np.ndarray, image_format: str, jpeg_quality: int) -> bytes:
    if image_format == "png":
        return encode_png(rgb)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise StoreError(f"cannot encode a {rgb.shape} image as JPEG")
    return encoded.tobytes()


class SampleEncoder:
    """Reads sample ``i`` of a store or mix and encodes it (images, masks, labels, metadata)."""

    def __init__(self, spec: ShardSpec, tags: tuple[str, ...], reader: Dataset | None = None) -> None:
        """``reader``: the store or mix already open (a worker keeps it across chunks), else it is opened."""
        self.spec = spec
        self.tags = tags
        self.reader = reader if reader is not None else open_store(Path(spec.store))
        self.store = spec.store

    def encode(self, index: int, split: str, metadata: dict[str, Any] | None = None) -> EncodedSample:
        """``metadata``: the sample's, if already read (a chunk reads its samples' metadata in one batch with
        ``reader.metadata(indices)``); else it is read with the sample."""
        spec = self.spec
        if metadata is None:
            sample = self.reader[index]
        else:
            image, face_mask, occluder_mask = (self.reader.sample_array(name, index)
                                               for name in (IMAGE, FACE_MASK, OCCLUDER_MASK))  # fmt: skip
            sample = StoredSample(image, face_mask, occluder_mask, metadata)
        part, local = self.reader.locate(index)
        store = part.reader
        key = check_sample_name(sample_key(self.tags, part.number, local), store=self.store, what="sample key")
        image_ext = spec.image_format
        files = [("image", image_ext, encode_rgb(sample.image, image_ext, spec.jpeg_quality))]
        arrays = {"face_mask": sample.face_mask, "occluder_mask": sample.occluder_mask}
        for name, field_name, kind in LABELS:
            if name not in arrays and name not in spec.labels:
                continue
            array = arrays[name] if name in arrays else store.label(name, local, sample.image)
            if kind == "rgb":
                files.append((field_name, f"{field_name}.{image_ext}", encode_rgb(array, image_ext, spec.jpeg_quality)))
            else:
                values = array * np.uint8(255) if kind == "binary" else array
                files.append((field_name, f"{field_name}.png", encode_png(values)))
        # The store's folder name, or for a mix the store's path relative to the mix (as its card has it).
        metadata = {**sample.metadata, "key": key, "store": part.name, "store_index": local, "split": split}
        for name in POINT_LABELS:
            if name in spec.labels:
                metadata[name] = point_label_json(name, store.label(name, local, sample.image))
        return EncodedSample(key, files, metadata)


def metadata_json(metadata: dict[str, Any]) -> bytes:
    return json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode()


def default_image_format(dataset: Dataset) -> str:
    """png when every store's image codec is lossless (the export stays exact), else jpg."""
    codecs = [part.reader.card.get("image_codec") or "zstd" for part in dataset.parts]
    return "png" if all(parse_image_codec(c).lossless for c in codecs) else "jpg"
