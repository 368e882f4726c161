"""Whole-shard reads for stores on object storage.

Reading one sample out of a shard on S3 costs two requests per array (the shard's index, then the
chunk), each tens of milliseconds; reading the whole shard costs one (zarr fetches a fully selected
shard in a single GET). :class:`ShardBlocks` switches to whole-shard reads once a second sample of the
same shard is asked for (sequential and shard-friendly shuffled access, as ``StoreDataset``'s sampler and
every export/preview/evaluate loop do), and keeps the last ``keep`` shards decoded. Purely random access
still reads single samples. Local stores do not use it: their partial reads are cheap.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import zarr


class ShardBlocks:
    """Samples of ``arrays`` (all with the same first axis and shard length ``shard_size``) by index."""

    def __init__(self, arrays: Mapping[str, zarr.Array], *, n: int, shard_size: int, keep: int = 1) -> None:
        self.arrays = dict(arrays)
        self.n, self.shard_size, self.keep = n, shard_size, keep
        self._blocks: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()  # (array name, shard) -> values
        self._last: dict[str, int] = {}  # array name -> shard of its previous read

    def get(self, name: str, index: int) -> np.ndarray:
        """``arrays[name][index]``."""
        shard = index // self.shard_size
        key = (name, shard)
        block = self._blocks.get(key)
        if block is None and self._last.get(name) == shard:
            start, stop = shard * self.shard_size, min((shard + 1) * self.shard_size, self.n)
            block = self._blocks[key] = np.asarray(self.arrays[name][start:stop])
            while len(self._blocks) > self.keep * len(self.arrays):
                self._blocks.popitem(last=False)
        self._last[name] = shard
        if block is None:
            return np.asarray(self.arrays[name][index : index + 1])[0]  # a slice: see ShardReader._read
        self._blocks.move_to_end(key)
        return block[index - shard * self.shard_size]
