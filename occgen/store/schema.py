"""The shard schema (STYLE.md habit 9): array names, dtypes, chunking, attributes, and the reader.

One zarr v3 store per dataset::

    image          (N, S, S, 3) uint8  RGB          chunk 1 sample, shard `shard_size` samples, zstd
    face_mask      (N, S, S)    uint8  {0, 1}       visible face after occlusion
    occluder_mask  (N, S, S)    uint8  [0, 255]     occluder blend alpha x 255
    metadata       (N,)         str    JSON         per-sample ids and sampled params (replayable)
    shard_complete (N_shards,)  uint8  {0, 1}       1 once every sample of that shard is written
    shard_digest   (N_shards,)  str    JSON         per array: key, size and sha256 of the shard's object
                                                    (:mod:`occgen.store.digest`; checked by ``occgen verify``)

Optional label arrays (``labels`` of :func:`create_store`; names, dtypes and class maps in
:mod:`occgen.core.labels`, described in the card's ``labels`` key): ``parsing``, ``face_mask_amodal``,
``occluder_class`` (uint8 (N, S, S), zstd like the masks, :data:`LABEL_MASK_CHUNK` samples per chunk), and
for ``clean_image`` the arrays ``clean_box`` (int32 (N, 4), one chunk per shard) and ``clean_patch``
(variable-length bytes (N,), the image codec): the clean face is kept only inside the box where it differs
from ``image`` (:mod:`occgen.store.clean`; :meth:`ShardReader.labels` gives it back whole). A store without
them is laid out exactly as before.

Root attribute ``occgen`` holds the dataset card: schema version, occgen version, recipe, seed, size,
params, source fingerprints, ``generation`` (what a resume must match) and ``complete``.
Each shard is written by exactly one task: concurrent writers into one zarr shard corrupt it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import ZstdCodec
from zarr.core.dtype import VariableLengthBytes

from occgen import __version__
from occgen.core.errors import StoreError
from occgen.core.labels import LABEL_ARRAYS
from occgen.store.blocks import ShardBlocks
from occgen.store.clean import pack_clean, unpack_clean
from occgen.store.codecs import DEFAULT_IMAGE_CODEC, ImageCodec, explain_open_error, parse_image_codec
from occgen.store.dataset import DatasetPart
from occgen.store.digest import array as zarr_array
from occgen.store.digest import card as read_card
from occgen.store.digest import shard_digest, shard_key
from occgen.store.location import Location, open_group, parse_location, storage_errors

SCHEMA_VERSION = 1
ATTRS_KEY = "occgen"
IMAGE, FACE_MASK, OCCLUDER_MASK, METADATA, SHARD_COMPLETE, SHARD_DIGEST = (
    "image", "face_mask", "occluder_mask", "metadata", "shard_complete", "shard_digest",
)  # fmt: skip
#: The per-sample arrays, sharded alike along the sample axis (what a shard digest covers).
SAMPLE_ARRAYS = (IMAGE, FACE_MASK, OCCLUDER_MASK, METADATA)
#: Samples per chunk of the mask-like label arrays (parsing, face_mask_amodal, occluder_class): zarr spends
#: about 0.5 ms per chunk written, more than zstd on a 512² mask; a read of one sample decodes 4 (~1 MB) and
#: costs the same (benchmarks/bench_labels.py). A divisor of the shard size (gcd), so shards stay whole.
LABEL_MASK_CHUNK = 8
# clean_patch's variable-length bytes type has no zarr v3 specification yet (zarr warns on every use); its items
# are occgen's encoded patches, decoded by occgen's readers (documented in occgen/store/clean.py and docs/labels.md).
warnings.filterwarnings("ignore", message=r"The data type \(VariableLengthBytes\(\)\) does not have a Zarr V3")
#: The ``clean`` label's arrays (:mod:`occgen.store.clean`): per-sample box and encoded patch. Stores of
#: occgen 0.2.0 hold a whole ``clean_image`` array instead.
CLEAN_IMAGE, CLEAN_BOX, CLEAN_PATCH = LABEL_ARRAYS["clean"], "clean_box", "clean_patch"


def shard_bounds(shard_index: int, n: int, shard_size: int) -> tuple[int, int]:
    """Sample range ``[start, stop)`` of shard ``shard_index``."""
    start = shard_index * shard_size
    return start, min(start + shard_size, n)


def shard_count(n: int, shard_size: int) -> int:
    return -(-n // shard_size)


def create_store(
    path: Path | Location, *, n: int, size: int, shard_size: int, card: dict[str, Any],
    image_codec: str = DEFAULT_IMAGE_CODEC, labels: tuple[str, ...] = (),
) -> zarr.Group:  # fmt: skip
    """Create an empty store for ``n`` samples of ``size``²; ``card`` becomes the ``occgen`` attribute.

    ``image_codec`` (``NAME[:LEVEL]``, see :mod:`occgen.store.codecs`) applies to ``image``; masks are zstd.
    """
    codec = parse_image_codec(image_codec)
    image_codecs = codec.zarr_codecs() if codec.name != "zstd" else {"compressors": ZstdCodec(level=codec.level or 3)}
    try:
        group = open_group(parse_location(path), "w")
    except OSError as error:
        raise StoreError(f"cannot create store {path}: {error.strerror or error}; choose a writable --out") from error
    # The card first: a creation killed halfway leaves an (incomplete) occgen store, which the next run
    # recognises by its missing arrays and recreates, rather than a folder it may not delete.
    group.attrs[ATTRS_KEY] = {
        **card,
        "schema_version": SCHEMA_VERSION,
        "occgen_version": __version__,
        "n": n,
        "size": size,
        "shard_size": shard_size,
        "image_codec": codec.spec,
        "complete": False,
    }
    compressor = ZstdCodec(level=3)
    shard = min(shard_size, n)
    group.create_array(IMAGE, shape=(n, size, size, 3), dtype="uint8", chunks=(1, size, size, 3),
                       shards=(shard, size, size, 3), fill_value=0, **image_codecs)  # fmt: skip
    for name in (FACE_MASK, OCCLUDER_MASK):
        group.create_array(name, shape=(n, size, size), dtype="uint8", chunks=(1, size, size),
                           shards=(shard, size, size), compressors=compressor, fill_value=0)  # fmt: skip
    for label in labels:
        name = LABEL_ARRAYS[label]
        if name == CLEAN_IMAGE:
            group.create_array(CLEAN_BOX, shape=(n, 4), dtype="int32", chunks=(shard, 4), fill_value=0,
                               compressors=compressor)  # fmt: skip
            chunk = math.gcd(shard, LABEL_MASK_CHUNK)
            group.create_array(CLEAN_PATCH, shape=(n,), dtype=VariableLengthBytes(), chunks=(chunk,), shards=(shard,),
                               compressors=None)  # fmt: skip (the patches are encoded already)
        else:
            chunk = math.gcd(shard, LABEL_MASK_CHUNK)
            group.create_array(name, shape=(n, size, size), dtype="uint8", chunks=(chunk, size, size),
                               shards=(shard, size, size), compressors=compressor, fill_value=0)  # fmt: skip
    group.create_array(METADATA, shape=(n,), dtype=str, chunks=(1,), shards=(shard,))
    group.create_array(SHARD_COMPLETE, shape=(shard_count(n, shard_size),), dtype="uint8", chunks=(1,), fill_value=0)
    group.create_array(SHARD_DIGEST, shape=(shard_count(n, shard_size),), dtype=str, chunks=(1,))
    return group


def sharded_arrays(group: zarr.Group) -> tuple[str, ...]:
    """The per-sample arrays ``group`` holds (:data:`SAMPLE_ARRAYS` and its optional label arrays)."""
    extra = (*LABEL_ARRAYS.values(), CLEAN_BOX, CLEAN_PATCH)
    return (*SAMPLE_ARRAYS, *(name for name in extra if name in group))


def write_shard(
    group: Any,  # a zarr.Group, or generate's per-worker wrapper of one (same item access and attrs)
    shard_index: int,
    images: np.ndarray,
    face_masks: np.ndarray,
    occluder_masks: np.ndarray,
    metadata: Sequence[dict[str, Any]],
    extras: dict[str, Any] | None = None,
) -> None:
    """Write one whole shard (all its samples at once), record its digest, then mark it complete. ``extras``
    maps optional label array names to their stacked samples (``clean_image``: stacked or a list of images; it
    is stored as ``clean_box`` and ``clean_patch``, :func:`occgen.store.clean.pack_clean`)."""
    card = read_card(group, ATTRS_KEY)
    start, stop = shard_bounds(shard_index, int(card["n"]), int(card["shard_size"]))
    if len(images) != stop - start:
        raise StoreError(f"shard {shard_index} needs {stop - start} samples, got {len(images)}")
    pixels = {IMAGE: images, FACE_MASK: face_masks, OCCLUDER_MASK: occluder_masks, **(extras or {})}
    if CLEAN_IMAGE in pixels and CLEAN_PATCH in group:  # (0.2.0 stores keep whole clean faces)
        codec = parse_image_codec(str(card.get("image_codec") or "zstd"))
        pixels[CLEAN_BOX], pixels[CLEAN_PATCH] = pack_clean(images, pixels.pop(CLEAN_IMAGE), codec)
    elif CLEAN_IMAGE in pixels:
        pixels[CLEAN_IMAGE] = np.asarray(pixels[CLEAN_IMAGE])  # a list of images: stacked for zarr
    for name, values in pixels.items():
        # Every chunk is written, even an all-zero one (an empty occluder_mask, say; ~60 bytes): zarr's check for
        # chunks equal to the fill value costs 0.5-2 ms per sample and array (np.array_equal), more than zstd.
        zarr_array(group, name).with_config({"write_empty_chunks": True})[start:stop] = values
    zarr_array(group, METADATA)[start:stop] = np.array([json.dumps(m, sort_keys=True) for m in metadata], dtype=object)
    if SHARD_DIGEST in group:  # stores made before digests existed have none
        digest = shard_digest(group, shard_index, sharded_arrays(group))
        zarr_array(group, SHARD_DIGEST)[shard_index] = json.dumps(digest, sort_keys=True)
    zarr_array(group, SHARD_COMPLETE)[shard_index] = 1


def is_store(path: Path | Location) -> bool:
    """True if ``path`` (a path or URL) is a zarr group carrying an occgen card."""
    location = parse_location(path)
    try:
        return ATTRS_KEY in open_group(location, "r").attrs
    except StoreError:
        raise  # storage unreachable or refused: not an answer to "is it a store"
    except (FileNotFoundError, ValueError, KeyError, OSError, zarr.errors.GroupNotFoundError):
        return False


def remove_store(path: Path | Location) -> None:
    """Delete an occgen store; refuses to delete anything that is not one."""
    if not is_store(path):
        raise StoreError(f"{path} is not an occgen store; refusing to delete it")
    parse_location(path).remove()


@dataclass(frozen=True)
class StoredSample:
    image: np.ndarray
    face_mask: np.ndarray
    occluder_mask: np.ndarray
    metadata: dict[str, Any]


def label_arrays(group: zarr.Group) -> tuple[str, ...]:
    """The optional label arrays (:data:`occgen.core.labels.LABEL_ARRAYS` values) ``group`` holds (``clean_image``
    also when it is stored as ``clean_patch``)."""
    stored_as = {CLEAN_IMAGE: CLEAN_PATCH}
    return tuple(name for name in LABEL_ARRAYS.values() if name in group or stored_as.get(name, name) in group)


class ShardReader:
    """Read access for downstream code: ``len(reader)``, ``reader[i]`` -> :class:`StoredSample`; a
    :class:`occgen.store.dataset.Dataset` of one part (itself).

    An incomplete store (an interrupted run) raises unless ``allow_incomplete=True``.
    """

    def __init__(self, path: Path | Location, *, allow_incomplete: bool = False) -> None:
        self.location = parse_location(path)
        self.path: Path | str = self.location.path if self.location.is_local else self.location.url
        self.location.check_reachable()
        if not self.location.exists():
            raise StoreError(f"store not found: {self.path}")
        if not is_store(self.location):
            raise StoreError(f"{self.path} is not an occgen store (no '{ATTRS_KEY}' attributes)")
        self.group = open_group(self.location, "r")
        self.card: dict[str, Any] = read_card(self.group, ATTRS_KEY)
        if self.card.get("kind") == "mix":
            raise StoreError(f"{self.path} is a mix index, not a store; open it with occgen.store.open_store")
        if self.card.get("schema_version") != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {self.card.get('schema_version')}, this occgen reads "
                f"{SCHEMA_VERSION}; regenerate it or use a matching occgen"
            )
        try:
            with warnings.catch_warnings():  # imagecodecs codecs are outside the zarr v3 spec: documented
                warnings.simplefilter("ignore")
                self._image = zarr_array(self.group, IMAGE)
            self._face_mask = zarr_array(self.group, FACE_MASK)
            self._occluder_mask = zarr_array(self.group, OCCLUDER_MASK)
            self._metadata = zarr_array(self.group, METADATA)
        except (ImportError, KeyError, ValueError, TypeError) as error:
            raise explain_open_error(error, self.card.get("image_codec")) from error
        self._opened: dict[str, zarr.Array] = {IMAGE: self._image, FACE_MASK: self._face_mask,
                                               OCCLUDER_MASK: self._occluder_mask, METADATA: self._metadata}
        # On object storage, whole-shard reads once access is sequential (occgen/store/blocks.py).
        self._blocks = None if self.location.is_local else ShardBlocks(
            {IMAGE: self._image, FACE_MASK: self._face_mask, OCCLUDER_MASK: self._occluder_mask,
             METADATA: self._metadata}, n=int(self.card["n"]), shard_size=int(self.card["shard_size"]),
        )  # fmt: skip
        if not self.card.get("complete") and not allow_incomplete:
            done, total = self.shards_done()
            raise StoreError(
                f"store {self.path} is incomplete ({done}/{total} shards written); re-run the same command to resume it"
            )

    def shards_done(self) -> tuple[int, int]:
        with storage_errors(self.location):
            flags = np.asarray(zarr_array(self.group, SHARD_COMPLETE)[:])
        return int(flags.sum()), int(flags.size)

    def __len__(self) -> int:
        return int(self.card["n"])

    def __getitem__(self, index: int) -> StoredSample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"sample {index} out of range for a store of {n}")
        index %= n
        return StoredSample(
            image=self.sample_array(IMAGE, index),
            face_mask=self.sample_array(FACE_MASK, index),
            occluder_mask=self.sample_array(OCCLUDER_MASK, index),
            metadata=json.loads(str(self.sample_array(METADATA, index))),
        )

    def sample_array(self, name: str, index: int) -> np.ndarray:
        """Sample ``index`` (non-negative) of array ``name`` alone (e.g. the image and mask for training)."""
        if self._blocks is None:
            return self._read(self.arrays(name), index)
        if name not in self._blocks.arrays:  # e.g. an optional label array
            self._blocks.arrays[name] = self.arrays(name)
        return self._blocks.get(name, index)

    def _read(self, array: zarr.Array, index: int) -> Any:
        try:
            # A slice, not array[index]: zarr 3.1 reads one variable-length bytes item through numpy's "S"
            # type, which drops trailing NUL bytes (an encoded clean_patch ends in one now and then).
            return np.asarray(array[index : index + 1])[0]
        except (RuntimeError, ValueError, OSError) as error:  # codec / shard-index errors of a damaged object
            shard = index // int(self.card["shard_size"])
            raise StoreError(
                f"{self.path}: sample {index} cannot be decoded from {shard_key(array, shard)} (shard {shard}): "
                f"{error}; run `occgen verify {self.path}` to find every damaged shard, and --repair"
            ) from error

    def arrays(self, name: str) -> zarr.Array:
        """The raw zarr array ``name`` (for slicing many samples at once, or dask.array.from_zarr)."""
        if name not in self._opened:  # opened once: on object storage each opening is a request
            self._opened[name] = zarr_array(self.group, name)
        return self._opened[name]

    @property
    def size(self) -> int:
        return int(self.card["size"])

    @functools.cached_property
    def label_names(self) -> tuple[str, ...]:
        """Optional label arrays this store holds (``parsing``, ``face_mask_amodal``...), maybe none."""
        return label_arrays(self.group)

    @functools.cached_property
    def _clean_codec(self) -> ImageCodec | None:
        """The codec of ``clean_patch``, None when the store has none (no clean label, or a 0.2.0 store)."""
        return parse_image_codec(str(self.card.get("image_codec") or "zstd")) if CLEAN_PATCH in self.group else None

    def labels(self, index: int, image: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Sample ``index``'s optional label arrays, {array name: array} (empty for a default store).
        ``image``: the sample's image if the caller has it already (saves decoding it again for ``clean_image``)."""
        return {name: self.label(name, index, image) for name in self.label_names}

    def label(self, name: str, index: int, image: np.ndarray | None = None) -> np.ndarray:
        """Optional label array ``name`` of sample ``index``; ``clean_image`` comes back whole (its stored
        box pasted onto the image, :mod:`occgen.store.clean`)."""
        if name not in self.label_names:
            raise StoreError(f"{self.path} has no {name} array (its labels: {', '.join(self.label_names) or 'none'})")
        codec = self._clean_codec if name == CLEAN_IMAGE else None
        if codec is not None:
            box = np.asarray(self.sample_array(CLEAN_BOX, index))
            patch = self.sample_array(CLEAN_PATCH, index)
            return unpack_clean(self.sample_array(IMAGE, index) if image is None else image, bytes(patch), box, codec)
        with warnings.catch_warnings():  # a 0.2.0 clean_image uses the image codec (see __init__)
            warnings.simplefilter("ignore")
            return np.asarray(self.sample_array(name, index))

    # The dataset protocol (occgen/store/dataset.py): a store is a dataset of one part, itself.

    @functools.cached_property
    def parts(self) -> tuple[DatasetPart, ...]:
        every = np.arange(len(self), dtype=np.int64)
        return (DatasetPart(0, Path(str(self.path)).name, self, every, every, card_digest(self.card)),)

    @property
    def content_key(self) -> str:
        return card_digest(self.card)

    def locate(self, index: int) -> tuple[DatasetPart, int]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"sample {index} out of range for a store of {n}")
        return self.parts[0], index % n

    def metadata(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """The metadata of samples ``indices`` (one read of the range they span), without their pixels."""
        local = [self.locate(int(i))[1] for i in indices]
        if not local:
            return []
        low = min(local)
        with storage_errors(self.location):
            block = np.asarray(self.arrays(METADATA)[low : max(local) + 1])
        return [json.loads(str(block[i - low])) for i in local]

    def recipes(self) -> list[str]:
        return [str(self.card.get("recipe"))]

    def licences(self) -> dict[str, str]:
        return {name: str(source.get("licence")) for name, source in self.card.get("sources", {}).items()}


def card_digest(card: dict[str, Any]) -> str:
    """A short hash of what determines a store's content (its generation spec and codec)."""
    return hashlib.sha256(json.dumps(card.get("generation", {}), sort_keys=True).encode()).hexdigest()[:16]
