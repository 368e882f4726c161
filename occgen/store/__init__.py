"""Datasets on disk: the zarr store schema, image codecs, mix indexes, and opening any of them for reading
as one :class:`occgen.store.dataset.Dataset` (a store is a dataset of one part, a mix of several).

A new optional label array's on-disk layout is a :class:`~occgen.store.label_storage.LabelStorage` and one entry
in :data:`occgen.store.label_table.LABEL_STORAGES`; shard digests are recorded as the bytes are written
(:mod:`occgen.store.digest`) and checked with the layout by ``occgen verify`` (:mod:`occgen.store.integrity`,
:mod:`occgen.store.structure`). A clip store's frames read back with a frame axis through :mod:`occgen.store.clips`.
"""

from occgen.store.dataset import Dataset, DatasetPart
from occgen.store.open import open_store
from occgen.store.schema import ShardReader, StoredSample, card_digest, is_store

__all__ = ["Dataset", "DatasetPart", "ShardReader", "StoredSample", "card_digest", "is_store", "open_store"]
