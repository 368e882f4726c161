"""occgen.core.numeric: numpy's per-column statistics, bit for bit, by faster routes (issue 29)."""

from __future__ import annotations

import numpy as np
import pytest

from occgen.core.numeric import column_mean_std, column_means, column_min_max, column_sums


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("columns", [1, 2, 3, 5])
def test_column_statistics_equal_numpy_bit_for_bit(dtype: type, columns: int) -> None:
    rng = np.random.default_rng(columns)
    for _ in range(60):
        rows = int(rng.integers(1, 6000))
        points = (rng.normal(size=(rows, columns)) * rng.uniform(0.1, 300) + rng.uniform(-100, 100)).astype(dtype)
        mean, std = column_mean_std(points)
        assert mean.dtype == dtype and std.dtype == dtype and mean.shape == (columns,)
        assert np.array_equal(mean, points.mean(axis=0)) and np.array_equal(std, points.std(axis=0))
        assert np.array_equal(column_means(points), points.mean(axis=0))
        assert np.array_equal(column_sums(points)[0], points.sum(axis=0))
        low, high = column_min_max(points)
        assert np.array_equal(low, points.min(axis=0)) and np.array_equal(high, points.max(axis=0))


def test_column_statistics_of_a_gathered_non_contiguous_view() -> None:
    """A strided view (what lab[region] is not, but a caller might pass) gives numpy's answer too."""
    rng = np.random.default_rng(7)
    points = rng.random((4001, 6), dtype=np.float32)[::3, ::2]
    mean, std = column_mean_std(points)
    assert np.array_equal(mean, points.mean(axis=0)) and np.array_equal(std, points.std(axis=0))


def test_row_by_row_order_matters() -> None:
    """The reference order is sequential, not pairwise: a pairwise sum of these rows differs in the last bits,
    so the equality above is a real check of the order."""
    rng = np.random.default_rng(3)
    points = (rng.normal(size=(5000, 3)) * 100).astype(np.float32)
    pairwise = np.ascontiguousarray(points.T).sum(axis=1)
    assert not np.array_equal(pairwise, points.sum(axis=0))
    assert np.array_equal(column_sums(points)[0], points.sum(axis=0))
