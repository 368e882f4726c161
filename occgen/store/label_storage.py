"""How one optional label array is kept in a store: one :class:`LabelStorage` object per label array.

A storage says which zarr arrays it owns and how they are created (:meth:`LabelStorage.arrays`), turns a
shard's samples into those arrays' values (:meth:`LabelStorage.encode`) and gives one sample back
(:meth:`LabelStorage.decode`). The schema (:mod:`occgen.store.schema`) looks the storage up by the label's
array name and otherwise treats every label alike: writers call ``encode``, readers call ``decode``.

- :class:`PlainStorage`: the label array as it is (``parsing``, ``face_mask_amodal``, ``occluder_class``;
  and the whole ``clean_image`` array of occgen 0.2.0 stores);
- :class:`PointStorage`: per-point arrays, ``landmarks`` float32 (N, K, 2) and ``landmark_visible`` uint8
  (N, K), one chunk per shard (a shard's points are a few KB);
- :class:`occgen.store.clean.PatchStorage`: ``clean_image`` as ``clean_box`` + ``clean_patch``, only where the
  clean face differs from the image.

A new way to keep a label is a new storage class here (or beside it) and one entry in
:data:`occgen.store.label_table.LABEL_STORAGES`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from zarr.codecs import ZstdCodec

from occgen.store.codecs import ImageCodec

#: Samples per chunk of the mask-like label arrays (parsing, face_mask_amodal, occluder_class): zarr spends
#: about 0.5 ms per chunk written, more than zstd on a 512² mask; a read of one sample decodes 4 (~1 MB) and
#: costs the same (benchmarks/bench_labels.py). A divisor of the shard size (gcd), so shards stay whole.
LABEL_MASK_CHUNK = 8

#: ``read(array_name)``: one sample's stored value of that array (what :meth:`LabelStorage.decode` is given).
SampleRead = Callable[[str], Any]


class ArrayNames(Protocol):
    """A store's group, or a set of its array names: what ``name in arrays`` asks of."""

    def __contains__(self, name: str, /) -> bool: ...


class LabelStorage(ABC):
    """How the label array ``label`` (e.g. ``clean_image``) is kept: as the arrays :attr:`array_names`."""

    label: str

    @property
    @abstractmethod
    def array_names(self) -> tuple[str, ...]:
        """The zarr arrays this storage owns (each sharded along the sample axis like ``image``)."""

    @abstractmethod
    def arrays(self, *, n: int, size: int, shard: int) -> dict[str, dict[str, Any]]:
        """``{array name: keyword arguments of zarr's create_array}`` for a store of ``n`` samples of ``size``²
        with ``shard`` samples per shard."""

    @abstractmethod
    def encode(self, samples: Sequence[np.ndarray], *, images: np.ndarray, codec: ImageCodec) -> dict[str, Any]:
        """One shard's label samples -> ``{array name: values for the shard's rows}``; ``images`` are the
        shard's uint8 (N, S, S, 3) images, ``codec`` the store's image codec."""

    @abstractmethod
    def decode(self, read: SampleRead, *, image: Callable[[], np.ndarray], codec: ImageCodec) -> np.ndarray:
        """One sample's label back from its stored values (``read(array_name)``); ``image()`` gives the
        sample's decoded image when the storage needs it."""

    def held_by(self, names: ArrayNames) -> bool:
        """True when every array of this storage is ``in names`` (a store's group, or its array names)."""
        return all(name in names for name in self.array_names)


@dataclass(frozen=True)
class PlainStorage(LabelStorage):
    """The label kept as it is: uint8 (N, S, S) (``channels`` 0) or (N, S, S, channels), zstd level 3,
    :data:`LABEL_MASK_CHUNK` samples per chunk."""

    label: str
    channels: int = 0

    @property
    def array_names(self) -> tuple[str, ...]:
        return (self.label,)

    def arrays(self, *, n: int, size: int, shard: int) -> dict[str, dict[str, Any]]:
        pixel = (size, size, self.channels) if self.channels else (size, size)
        chunk = math.gcd(shard, LABEL_MASK_CHUNK)
        options = {"shape": (n, *pixel), "dtype": "uint8", "chunks": (chunk, *pixel), "shards": (shard, *pixel),
                   "compressors": ZstdCodec(level=3), "fill_value": 0}  # fmt: skip
        return {self.label: options}

    def encode(self, samples: Sequence[np.ndarray], *, images: np.ndarray, codec: ImageCodec) -> dict[str, Any]:
        return {self.label: np.asarray(samples, np.uint8)}  # a list of arrays stacked for zarr

    def decode(self, read: SampleRead, *, image: Callable[[], np.ndarray], codec: ImageCodec) -> np.ndarray:
        return np.asarray(read(self.label))


@dataclass(frozen=True)
class PointStorage(LabelStorage):
    """A per-point label kept as it is: ``dtype`` (N, ``points``) or (N, ``points``, ``coords``), zstd level 3,
    one chunk per shard; float arrays are filled with NaN (no point), others with 0."""

    label: str
    points: int
    dtype: str
    coords: int = 0

    @property
    def array_names(self) -> tuple[str, ...]:
        return (self.label,)

    def arrays(self, *, n: int, size: int, shard: int) -> dict[str, dict[str, Any]]:
        tail = (self.points, self.coords) if self.coords else (self.points,)
        fill = float("nan") if np.dtype(self.dtype).kind == "f" else 0
        options = {"shape": (n, *tail), "dtype": self.dtype, "chunks": (shard, *tail), "shards": (shard, *tail),
                   "compressors": ZstdCodec(level=3), "fill_value": fill}  # fmt: skip
        return {self.label: options}

    def encode(self, samples: Sequence[np.ndarray], *, images: np.ndarray, codec: ImageCodec) -> dict[str, Any]:
        return {self.label: np.asarray(samples, self.dtype)}

    def decode(self, read: SampleRead, *, image: Callable[[], np.ndarray], codec: ImageCodec) -> np.ndarray:
        return np.asarray(read(self.label), self.dtype)
