"""The label storage table: which :class:`~occgen.store.label_storage.LabelStorage` keeps each optional label
array of a store, and which of them a store holds.

Where it sits: the store layer, under :mod:`occgen.store.schema` (which re-exports these names). Writers and
readers look a label's storage up here by its array name and otherwise treat every label alike.

The per-point labels (``landmarks`` float32 (N, K, 2), ``landmark_visible`` uint8 (N, K)) have a point count
``K`` that depends on the store's landmark scheme (the card's ``labels.landmarks.names``: 13 points of
``occgen-parsing-13`` unless the face source's own scheme was stored, issue 25): :func:`sized_for_card` gives the
storage with the store's ``K``; without a card, or without a ``landmarks`` entry in it, ``K`` is 13.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from occgen.core.labels import LABEL_ARRAYS, LANDMARK_NAMES
from occgen.store.clean import PatchStorage
from occgen.store.label_storage import ArrayNames, LabelStorage, PlainStorage, PointStorage

CLEAN_IMAGE = LABEL_ARRAYS["clean"]
#: Label array name -> how a new store keeps it: the masks as they are; ``clean_image`` as per-sample box and
#: encoded patch (:mod:`occgen.store.clean`).
LABEL_STORAGES: dict[str, LabelStorage] = {
    name: PatchStorage(name) if name == CLEAN_IMAGE else PlainStorage(name) for name in LABEL_ARRAYS.values()
} | {  # landmarks: per point, not per pixel
    "landmarks": PointStorage("landmarks", len(LANDMARK_NAMES), "float32", coords=2),
    "landmark_visible": PointStorage("landmark_visible", len(LANDMARK_NAMES), "uint8"),
}
#: How older stores keep a label (still read, and written on resume): occgen 0.2.0's whole ``clean_image``.
OLDER_LABEL_STORAGES: dict[str, tuple[LabelStorage, ...]] = {CLEAN_IMAGE: (PlainStorage(CLEAN_IMAGE, channels=3),)}


def stored_label(name: str, arrays: ArrayNames) -> LabelStorage | None:
    """How a store holding ``arrays`` (its group, or its array names) keeps label array ``name``; None when it
    does not hold it."""
    if name not in LABEL_STORAGES:
        return None
    for storage in (LABEL_STORAGES[name], *OLDER_LABEL_STORAGES.get(name, ())):
        if storage.held_by(arrays):
            return storage
    return None


def stored_labels(group: ArrayNames) -> dict[str, LabelStorage]:
    """The optional label arrays (:data:`occgen.core.labels.LABEL_ARRAYS` values) ``group`` holds, each with how
    it is kept (``clean_image`` also when it is stored as ``clean_box`` + ``clean_patch``)."""
    found = {name: stored_label(name, group) for name in LABEL_ARRAYS.values()}
    return {name: storage for name, storage in found.items() if storage is not None}


def label_arrays(group: ArrayNames) -> tuple[str, ...]:
    """The optional label arrays (:data:`occgen.core.labels.LABEL_ARRAYS` values) ``group`` holds."""
    return tuple(stored_labels(group))


def landmark_count(card: Mapping[str, Any] | None) -> int:
    """``K``, the points per sample of a store whose card is ``card``: the length of its
    ``labels.landmarks.names`` (or ``labels.landmark_visible.names``), else 13 (``occgen-parsing-13``)."""
    labels = (card or {}).get("labels") or {}
    for array in ("landmarks", "landmark_visible"):
        names = (labels.get(array) or {}).get("names")
        if names:
            return len(names)
    return len(LANDMARK_NAMES)


def sized_for_card(storage: LabelStorage, card: Mapping[str, Any] | None) -> LabelStorage:
    """``storage`` with the point count of the store ``card`` describes (:func:`landmark_count`); other storages
    as they are."""
    if isinstance(storage, PointStorage):
        return replace(storage, points=landmark_count(card))
    return storage
