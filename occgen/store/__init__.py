"""Datasets on disk: the zarr store schema, image codecs, mix indexes, and opening any of them for reading.

A new optional label array's on-disk layout is a :class:`~occgen.store.label_storage.LabelStorage` and one entry
in :data:`occgen.store.schema.LABEL_STORAGES`; shard digests are recorded as the bytes are written
(:mod:`occgen.store.digest`).
"""

from occgen.store.open import open_store
from occgen.store.schema import ShardReader, StoredSample, card_digest, is_store

__all__ = ["ShardReader", "StoredSample", "card_digest", "is_store", "open_store"]
