"""numpy results, bit for bit, by faster routes: per-column statistics of ``(N, C)`` point sets (issue 29: SOT colour
transfer and the lab-stats harmoniser spent much of their time in numpy's axis-0 reductions of such arrays).

Why they are exact, not just close:

- numpy reduces a C-contiguous ``(N, C)`` array (C >= 2) along axis 0 row by row (each column's sum is
  ``((x0 + x1) + x2) + ...``, no pairwise summation: the inner loop runs along the C columns), with a Python loop's
  worth of overhead per row for small C. ``np.add.accumulate`` along axis 0 adds in that same order, in one strided
  pass per column; its last row is the sum. :func:`column_mean_std` then divides and squares exactly as
  ``numpy._core._methods`` does for ``mean`` and ``std`` (the mean computed once instead of twice).
- minimum and maximum are exact in any order: :func:`column_min_max` takes them along the rows of the contiguous
  transpose, where numpy's vectorised loops run.

Not here: a faster argsort. SOT's fit sorts float32 projections, among which equal values are common (a few per
4096), and ``np.argsort``'s order among equal values is its own introsort's: a stable or radix sort would move
pixels (by a level, rarely), so SOT keeps ``np.argsort``.

``tests/test_numeric.py`` checks each against numpy on random inputs.
"""

from __future__ import annotations

import numpy as np


def column_sums(points: np.ndarray) -> np.ndarray:
    """``points.sum(axis=0)`` of a 2-D float array, bit for bit (the same row-by-row order), as a ``(1, C)`` array."""
    points = np.ascontiguousarray(points)
    if points.shape[1] == 1:  # one column: numpy drops the unit axis and sums pairwise; its own sum is that
        return points.sum(axis=0, keepdims=True)
    return np.add.accumulate(points, axis=0)[-1:]


def column_mean_std(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(points.mean(axis=0), points.std(axis=0))`` of a 2-D float ``(N, C)`` array (N >= 1), bit for bit."""
    points = np.ascontiguousarray(points)
    count = len(points)
    mean = np.true_divide(column_sums(points), count, casting="unsafe")  # (1, C), numpy's _mean / _var divide
    deviation = np.square(np.subtract(points, mean))
    variance = np.true_divide(column_sums(deviation), count, casting="unsafe")
    return mean[0], np.sqrt(variance[0])


def column_means(points: np.ndarray) -> np.ndarray:
    """``points.mean(axis=0)`` of a 2-D float ``(N, C)`` array (N >= 1), bit for bit."""
    return np.true_divide(column_sums(points), len(points), casting="unsafe")[0]


def column_min_max(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(points.min(axis=0), points.max(axis=0))`` of a 2-D ``(N, C)`` array (N >= 1): exact in any order, and
    along contiguous rows of its transpose numpy's vectorised loops run (20x faster for C = 3)."""
    columns = np.ascontiguousarray(points.T)
    return columns.min(axis=1), columns.max(axis=1)
