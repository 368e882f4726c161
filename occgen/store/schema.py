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
from ``image`` (:mod:`occgen.store.clean`; :meth:`ShardReader.labels` gives it back whole). How each label is
kept is one :class:`~occgen.store.label_storage.LabelStorage` object (:data:`LABEL_STORAGES`, in
:mod:`occgen.store.label_table` with the landmark point count a card sets, looked up by the
label's array name): writers encode and readers decode through it, with no case per label. A store without
them is laid out exactly as before.

Root attribute ``occgen`` holds the dataset card: schema version, occgen version, recipe, seed, size,
params, source fingerprints, ``generation`` (what a resume must match) and ``complete``.
Each shard is written by exactly one task: concurrent writers into one zarr shard corrupt it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from occgen import __version__
from occgen.core.errors import StoreError
from occgen.core.labels import LABEL_ARRAYS
from occgen.core.location import Location, parse_location, storage_errors
from occgen.store.blocks import ShardBlocks
from occgen.store.clean import CLEAN_BOX as CLEAN_BOX  # (re-exported: tests name the arrays here)
from occgen.store.clean import CLEAN_PATCH as CLEAN_PATCH
from occgen.store.codecs import DEFAULT_IMAGE_CODEC, ImageCodec, explain_open_error, parse_image_codec
from occgen.store.dataset import DatasetPart
from occgen.store.digest import RecordingStore, recording, shard_digest, shard_key
from occgen.store.digest import array as zarr_array
from occgen.store.digest import card as read_card
from occgen.store.group import open_group
from occgen.store.label_storage import LABEL_MASK_CHUNK as LABEL_MASK_CHUNK  # (re-exported, documented above)
from occgen.store.label_storage import LabelStorage

# The label storage table lives in label_table.py; re-exported here, where readers have always found it.
from occgen.store.label_table import CLEAN_IMAGE as CLEAN_IMAGE
from occgen.store.label_table import LABEL_STORAGES as LABEL_STORAGES
from occgen.store.label_table import OLDER_LABEL_STORAGES as OLDER_LABEL_STORAGES
from occgen.store.label_table import label_arrays as label_arrays
from occgen.store.label_table import landmark_count as landmark_count
from occgen.store.label_table import sized_for_card as sized_for_card
from occgen.store.label_table import stored_label as stored_label
from occgen.store.label_table import stored_labels as stored_labels

SCHEMA_VERSION = 1
ATTRS_KEY = "occgen"
IMAGE, FACE_MASK, OCCLUDER_MASK, METADATA, SHARD_COMPLETE, SHARD_DIGEST = (
    "image", "face_mask", "occluder_mask", "metadata", "shard_complete", "shard_digest",
)  # fmt: skip
#: The per-sample arrays, sharded alike along the sample axis (what a shard digest covers).
SAMPLE_ARRAYS = (IMAGE, FACE_MASK, OCCLUDER_MASK, METADATA)
# clean_patch's variable-length bytes type has no zarr v3 specification yet (zarr warns on every use); its items
# are occgen's encoded patches, decoded by occgen's readers (documented in occgen/store/clean.py and docs/labels.md).
warnings.filterwarnings("ignore", message=r"The data type \(VariableLengthBytes\(\)\) does not have a Zarr V3")


@dataclass(frozen=True)
class StoreLayout:
    """What a shard's writer needs of a store's card: sample count, samples per shard and image codec."""

    n: int
    shard_size: int
    image_codec: str = DEFAULT_IMAGE_CODEC

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> StoreLayout:
        return cls(int(card["n"]), int(card["shard_size"]), str(card.get("image_codec") or "zstd"))

    def bounds(self, shard_index: int) -> tuple[int, int]:
        """Sample range ``[start, stop)`` of shard ``shard_index``."""
        return shard_bounds(shard_index, self.n, self.shard_size)


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
    for name, options in array_options(n=n, size=size, shard_size=shard_size, image_codec=codec.spec,
                                       labels=labels, card=card).items():  # fmt: skip
        group.create_array(name, **options)
    return group


def array_options(
    *, n: int, size: int, shard_size: int, image_codec: str = DEFAULT_IMAGE_CODEC, labels: tuple[str, ...] = (),
    card: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """``{array name: keyword arguments of zarr's create_array}`` of a store: what :func:`create_store` makes
    and what ``occgen verify`` checks each array's metadata against (in creation order). ``card``: the store's,
    whose landmark scheme sets the point count of the landmark labels (:func:`landmark_count`)."""
    codec = parse_image_codec(image_codec)
    image_codecs = codec.zarr_codecs() if codec.name != "zstd" else {"compressors": ZstdCodec(level=codec.level or 3)}
    compressor = ZstdCodec(level=3)
    shard = min(shard_size, n)
    options: dict[str, dict[str, Any]] = {
        IMAGE: {"shape": (n, size, size, 3), "dtype": "uint8", "chunks": (1, size, size, 3),
                "shards": (shard, size, size, 3), "fill_value": 0, **image_codecs},
    }  # fmt: skip
    for name in (FACE_MASK, OCCLUDER_MASK):
        options[name] = {"shape": (n, size, size), "dtype": "uint8", "chunks": (1, size, size),
                         "shards": (shard, size, size), "compressors": compressor, "fill_value": 0}  # fmt: skip
    for label in labels:
        storage = sized_for_card(LABEL_STORAGES[LABEL_ARRAYS[label]], card)
        options.update(storage.arrays(n=n, size=size, shard=shard))
    shards = shard_count(n, shard_size)
    options[METADATA] = {"shape": (n,), "dtype": str, "chunks": (1,), "shards": (shard,)}
    options[SHARD_COMPLETE] = {"shape": (shards,), "dtype": "uint8", "chunks": (1,), "fill_value": 0}
    options[SHARD_DIGEST] = {"shape": (shards,), "dtype": str, "chunks": (1,)}
    return options


def sharded_arrays(group: zarr.Group) -> tuple[str, ...]:
    """The per-sample arrays ``group`` holds (:data:`SAMPLE_ARRAYS` and the arrays of its optional labels)."""
    storages = (stored_label(name, group) for name in LABEL_ARRAYS.values())
    return (*SAMPLE_ARRAYS, *(name for storage in storages if storage is not None for name in storage.array_names))


def write_shard(
    group: Any,  # a zarr.Group, or generate's per-worker wrapper of one (same item access and attrs)
    shard_index: int,
    images: np.ndarray,
    face_masks: np.ndarray,
    occluder_masks: np.ndarray,
    metadata: Sequence[dict[str, Any]],
    extras: Mapping[str, Sequence[np.ndarray]] | None = None,
    *,
    layout: StoreLayout | None = None,
) -> None:
    """Write one whole shard (all its samples at once), record its digest, then mark it complete. ``extras``
    maps optional label array names to the shard's samples (stacked, or a list of arrays), encoded by the
    label's :class:`~occgen.store.label_storage.LabelStorage`. ``layout``: the store's, when the caller has it
    (a generation task does); else it is read from the card.

    The shard's objects are written through a :class:`~occgen.store.digest.RecordingStore`, so its digest comes
    from the bytes as they were written, without reading them back."""
    layout = layout or StoreLayout.from_card(read_card(group, ATTRS_KEY))
    start, stop = layout.bounds(shard_index)
    if len(images) != stop - start:
        raise StoreError(f"shard {shard_index} needs {stop - start} samples, got {len(images)}")
    values: dict[str, Any] = {IMAGE: images, FACE_MASK: face_masks, OCCLUDER_MASK: occluder_masks}
    codec = parse_image_codec(layout.image_codec)
    for name, samples in (extras or {}).items():
        storage = stored_label(name, group)
        if storage is None:
            raise StoreError(f"{group.store}: the store has no array for the label {name!r}; make it with that label")
        values.update(storage.encode(samples, images=images, codec=codec))
    recorder = RecordingStore(group.store)
    for name, stacked in values.items():
        # Every chunk is written, even an all-zero one (an empty occluder_mask, say; ~60 bytes): zarr's check for
        # chunks equal to the fill value costs 0.5-2 ms per sample and array (np.array_equal), more than zstd.
        recording(zarr_array(group, name), recorder, write_empty_chunks=True)[start:stop] = stacked
    encoded = np.array([json.dumps(m, sort_keys=True) for m in metadata], dtype=object)
    recording(zarr_array(group, METADATA), recorder)[start:stop] = encoded
    if SHARD_DIGEST in group:  # stores made before digests existed have none
        digest = shard_digest(group, shard_index, sharded_arrays(group), recorder.written)
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
    """Delete an occgen store or mix; refuses to delete anything that is not one, or that holds anything
    besides the group's own ``zarr.json`` and arrays (a user's files in it are not occgen's to delete)."""
    location = parse_location(path)
    if not is_store(location):
        raise StoreError(f"{path} is not an occgen store; refusing to delete it (choose another --out)")
    foreign = foreign_entries(location)
    if foreign:
        raise StoreError(
            f"{path} holds {', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}, which no occgen store "
            "holds; refusing to delete it: move those away, or choose another --out"
        )
    location.remove()


def foreign_entries(location: Location) -> list[str]:
    """The names directly inside the store or mix at ``location`` that are neither its ``zarr.json`` nor one
    of its arrays (sorted; empty for a store as occgen writes it)."""
    group = open_group(location, "r")
    own = {"zarr.json", *(str(name) for name in group.array_keys())}
    if location.is_local:
        names = [entry.name for entry in location.path.iterdir()]
    else:
        with storage_errors(location):
            listed = location.filesystem().ls(location.url, detail=False)
        names = [name.rstrip("/").rsplit("/", 1)[-1] for name in listed]
    return sorted(name for name in names if name not in own)


@dataclass(frozen=True)
class StoredSample:
    image: np.ndarray
    face_mask: np.ndarray
    occluder_mask: np.ndarray
    metadata: dict[str, Any]


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
        return tuple(self._label_storages)

    @functools.cached_property
    def _label_storages(self) -> dict[str, LabelStorage]:
        return stored_labels(self.group)

    @functools.cached_property
    def _image_codec(self) -> ImageCodec:
        return parse_image_codec(str(self.card.get("image_codec") or "zstd"))

    def labels(self, index: int, image: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Sample ``index``'s optional label arrays, {array name: array} (empty for a default store).
        ``image``: the sample's image if the caller has it already (saves decoding it again for ``clean_image``)."""
        return {name: self.label(name, index, image) for name in self.label_names}

    def label(self, name: str, index: int, image: np.ndarray | None = None) -> np.ndarray:
        """Optional label array ``name`` of sample ``index``; ``clean_image`` comes back whole (its stored
        box pasted onto the image, :mod:`occgen.store.clean`)."""
        if name not in self.label_names:
            raise StoreError(f"{self.path} has no {name} array (its labels: {', '.join(self.label_names) or 'none'})")

        def sample_image() -> np.ndarray:
            return self.sample_array(IMAGE, index) if image is None else image

        with warnings.catch_warnings():  # a 0.2.0 clean_image uses the image codec (see __init__)
            warnings.simplefilter("ignore")
            return self._label_storages[name].decode(
                lambda array: self.sample_array(array, index), image=sample_image, codec=self._image_codec
            )

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
