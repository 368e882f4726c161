"""The per-worker cut-out cache (occgen/sources/cache.py) and the sources that use it."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from occgen.core.errors import ConfigError
from occgen.sources.cache import MB, CutoutCache, entry_bytes
from occgen.sources.hands import MattedHands
from occgen.sources.objects import CocoObjects
from occgen.sources.occluder import Occluder


def cutout(side: int) -> Occluder:
    return Occluder("x", "test", np.zeros((side, side, 3), np.uint8), np.ones((side, side), np.float32))


def test_budget_holds_and_least_recently_used_goes_first() -> None:
    cache = CutoutCache(budget_mb=1.0)
    item = cutout(200)  # 200 * 200 * 7 bytes = 280,000
    assert entry_bytes(item) == 280_000 and entry_bytes((item, 1.0)) == 280_000
    for key in range(3):
        cache.put(key, item)
    assert len(cache) == 3 and cache.nbytes == 840_000
    assert cache.get(0) is item  # 0 is now the most recently used
    cache.put(3, item)  # over budget: 1 (least recently used) goes
    assert cache.get(1) is None and cache.get(0) is item and cache.nbytes <= MB
    for key in range(4, 40):
        cache.put(key, item)
        assert cache.nbytes <= cache.budget_bytes
    big = cutout(500)  # 1.75 MB: returned, never kept
    assert cache.put("big", big) is big and cache.get("big") is None and cache.nbytes <= MB
    copy = pickle.loads(pickle.dumps(cache))  # a worker gets the budget, not the entries
    assert len(copy) == 0 and copy.nbytes == 0 and copy.budget_bytes == cache.budget_bytes
    assert len(CutoutCache(0)) == 0 and CutoutCache(0).put(1, item) is item
    with pytest.raises(ConfigError, match="cache_mb must be >= 0"):
        CutoutCache(-1)


DEMO_CATEGORIES = {"cup", "bowl", "banana", "apple", "sandwich", "pizza", "cell phone", "book"}


def test_sources_share_one_budget() -> None:
    cache = CutoutCache(budget_mb=0.5)
    hands = MattedHands(None, max_side_px=128, cache=cache)
    objects = CocoObjects(None, max_side_px=128, cache=cache)
    rng = np.random.default_rng(0)
    for _ in range(30):
        occluder, _ = hands.draw(rng=rng)
        assert max(occluder.alpha.shape) <= 128
        obj, params = objects.draw(rng=rng)
        assert max(obj.alpha.shape) <= 128 and params["category"] in DEMO_CATEGORIES
        assert 0 < cache.nbytes <= cache.budget_bytes
    first, _ = hands.load(0)
    again, _ = hands.load(0)
    assert again is first  # a hit returns the decoded arrays themselves
