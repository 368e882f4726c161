"""Datasets on disk: the zarr store schema, image codecs, mix indexes, and opening any of them for reading."""

from occgen.store.open import open_store
from occgen.store.schema import ShardReader, StoredSample, card_digest, is_store

__all__ = ["ShardReader", "StoredSample", "card_digest", "is_store", "open_store"]
