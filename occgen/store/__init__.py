"""Datasets on disk: the zarr store schema, image codecs, mix indexes, and opening any of them for reading
as one :class:`occgen.store.dataset.Dataset` (a store is a dataset of one part, a mix of several)."""

from occgen.store.dataset import Dataset, DatasetPart
from occgen.store.open import open_store
from occgen.store.schema import ShardReader, StoredSample, card_digest, is_store

__all__ = ["Dataset", "DatasetPart", "ShardReader", "StoredSample", "card_digest", "is_store", "open_store"]
