"""A per-process cache of decoded cut-outs, bounded by bytes (``--cache-mb``), shared by the hand and
object sources of one recipe.

Decoding a cut-out PNG (and shrinking it to the largest size it can be placed at) costs far more than
compositing it, and a dataset draws the same few hundred cut-outs tens of thousands of times, so each
worker keeps them decoded, least recently used first out, until their arrays' bytes reach the budget.
An entry larger than the whole budget is returned but not kept. Pickling (sending a recipe to a dask
worker) keeps the budget and drops the entries: a cache stays in its process.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import numpy as np

from occgen.core.errors import ConfigError

#: The paper's 200 hands and 128 objects, decoded at up to 512 px a side (RGB uint8 + alpha float32: about
#: 1.4 MB each), fit in this budget.
DEFAULT_CACHE_MB = 512.0
MB = 1024 * 1024


def entry_bytes(value: Any) -> int:
    """The bytes of the numpy arrays in ``value`` (an array, an object with array attributes, or a tuple)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, tuple | list):
        return sum(entry_bytes(item) for item in value)
    if hasattr(value, "__dict__") or hasattr(value, "__slots__"):
        fields = getattr(value, "__dict__", None) or {name: getattr(value, name) for name in value.__slots__}
        return sum(entry_bytes(item) for item in fields.values())
    return 0


class CutoutCache:
    """LRU of decoded cut-outs up to ``budget_mb`` megabytes of array data (0 = no caching)."""

    def __init__(self, budget_mb: float = DEFAULT_CACHE_MB) -> None:
        if budget_mb < 0:
            raise ConfigError(f"cache_mb must be >= 0, got {budget_mb}")
        self.budget_bytes = int(budget_mb * MB)
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __getstate__(self) -> dict[str, Any]:
        return {"budget_bytes": self.budget_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.budget_bytes = state["budget_bytes"]
        self._entries = OrderedDict()
        self.nbytes = 0

    def get(self, key: Hashable) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: Hashable, value: Any) -> Any:
        """Keep ``value`` (evicting the least recently used entries to stay within budget); returns it."""
        size = entry_bytes(value)
        if size > self.budget_bytes or key in self._entries:
            return value
        while self._entries and self.nbytes + size > self.budget_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.nbytes -= evicted
        self._entries[key] = (value, size)
        self.nbytes += size
        return value
