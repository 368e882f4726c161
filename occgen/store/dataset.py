"""The one read interface of occgen's datasets: a store and a mix index answer the same calls.

Where it sits: :func:`occgen.store.open_store` returns a :class:`Dataset`; everything outside ``store/``
(export, training data, previews, ``occgen info``) reads through it and never asks which kind it got.
:class:`occgen.store.schema.ShardReader` (a store: a dataset of one part, itself) and
:class:`occgen.store.mix.MixReader` (an index over several stores) implement it.

- ``len(dataset)``, ``dataset[i]`` -> a sample (image uint8 (S, S, 3) RGB, face_mask uint8 (S, S) {0, 1},
  occluder_mask uint8 (S, S), metadata dict); ``card`` (the dataset card), ``size`` (S), ``label_names``.
- ``parts``: the stores behind the dataset, each a :class:`DatasetPart` with its reader, its location, the
  global indices it contributes and the index of each of those in the store.
- ``locate(i)`` -> ``(part, index in that part's store)``; ``metadata(indices)``: per-sample metadata
  without decoding pixels (ids qualified by the part in a mix, so unique in any dataset).

A new kind of dataset (say, a filtered view) implements this protocol in ``store/``; no caller changes.
A clip store (issue 27) is a dataset of frames, clip-major, whose ``card`` says ``frames``;
:class:`occgen.store.clips.ClipView` gives it a frame axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from occgen.core.location import Location


class Sample(Protocol):
    """One stored sample (:class:`occgen.store.schema.StoredSample` is one)."""

    @property
    def image(self) -> np.ndarray: ...  # uint8 (S, S, 3) RGB

    @property
    def face_mask(self) -> np.ndarray: ...  # uint8 (S, S) {0, 1}

    @property
    def occluder_mask(self) -> np.ndarray: ...  # uint8 (S, S), occluder alpha x 255

    @property
    def metadata(self) -> dict[str, Any]: ...


@dataclass(frozen=True, eq=False)
class DatasetPart:
    """One store behind a dataset: ``indices`` are the dataset's (global) indices that come from it, ascending,
    and ``store_indices[k]`` is the index in the store of global sample ``indices[k]``."""

    number: int  # position among the dataset's parts (0 for a plain store)
    name: str  # the store as the dataset names it: its folder name, or its path relative to a mix
    reader: Dataset  # the store itself (a dataset of one part)
    indices: np.ndarray  # int64 (k,)
    store_indices: np.ndarray  # int64 (k,)
    digest: str  # what determines the store's content (occgen.store.schema.card_digest)

    @property
    def location(self) -> Location:
        return self.reader.location


class Dataset(Protocol):
    """What every reader of occgen data answers (see the module docstring)."""

    location: Location
    path: Path | str  # for messages: a local path, or the URL
    card: dict[str, Any]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...

    @property
    def size(self) -> int: ...  # image side in px

    @property
    def label_names(self) -> tuple[str, ...]: ...  # optional label arrays every part holds

    @property
    def parts(self) -> tuple[DatasetPart, ...]: ...

    @property
    def content_key(self) -> str: ...  # what the dataset holds, wherever it is (exports resume on it)

    def locate(self, index: int) -> tuple[DatasetPart, int]: ...

    def metadata(self, indices: Sequence[int]) -> list[dict[str, Any]]: ...

    def sample_array(self, name: str, index: int) -> np.ndarray: ...  # one array of one sample

    def label(self, name: str, index: int, image: np.ndarray | None = None) -> np.ndarray: ...

    def labels(self, index: int, image: np.ndarray | None = None) -> dict[str, np.ndarray]: ...

    def shards_done(self) -> tuple[int, int]: ...  # (complete shards, shards) over every part

    def recipes(self) -> list[str]: ...  # the recipe of each part, in order, without repeats

    def licences(self) -> dict[str, str]: ...  # {source (qualified by its store in a mix): licence}

