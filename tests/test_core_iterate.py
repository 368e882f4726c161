import pytest

from occgen.core.iterate import batched


def test_batched_keeps_order_and_a_short_last_batch() -> None:
    assert list(batched(range(1, 8), 3)) == [[1, 2, 3], [4, 5, 6], [7]]
    assert list(batched(iter([]), 4)) == []
    assert list(batched("ab", 5)) == [["a", "b"]]


def test_batched_refuses_a_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1, got 0"):
        list(batched([1], 0))
