"""Boxes and letterboxing (occgen/core/geometry.py), checked against independent numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from occgen.core.geometry import Letterbox, box_slices, grow_box, letterbox, mask_bbox, pad_to_square, unletterbox


def argwhere_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    points = np.argwhere(mask)
    if points.size == 0:
        return None
    (top, left), (bottom, right) = points.min(axis=0), points.max(axis=0)
    return int(top), int(left), int(bottom) + 1, int(right) + 1


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.float32, np.int32])
def test_mask_bbox_of_empty_single_pixel_and_full_masks(dtype: type) -> None:
    mask = np.zeros((7, 11), dtype)
    assert mask_bbox(mask) is None
    mask[3, 9] = 1
    assert mask_bbox(mask) == (3, 9, 4, 10) == argwhere_box(mask)
    mask[0, 0] = 1
    assert mask_bbox(mask) == (0, 0, 4, 10) == argwhere_box(mask)
    assert mask_bbox(np.ones((7, 11), dtype)) == (0, 0, 7, 11)


def test_mask_bbox_counts_any_non_zero_value_and_refuses_other_shapes() -> None:
    alpha = np.zeros((5, 5), np.float32)
    alpha[2, 1] = 1e-6  # a faint alpha is still alpha
    alpha[4, 3] = -0.5
    assert mask_bbox(alpha) == (2, 1, 5, 4)
    with pytest.raises(ValueError, match=r"expected a 2-D \(H, W\) mask, got shape \(5, 5, 3\)"):
        mask_bbox(np.zeros((5, 5, 3), np.uint8))


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40)), elements=st.sampled_from([0, 0, 0, 1, 255])))
def test_mask_bbox_agrees_with_argwhere(mask: np.ndarray) -> None:
    assert mask_bbox(mask) == argwhere_box(mask)
    view = mask[::2, 1::3]  # not contiguous
    if view.size:
        assert mask_bbox(view) == argwhere_box(view)


def test_grow_box_clips_to_the_image_and_box_slices_crop_it() -> None:
    assert grow_box((2, 3, 5, 9), 4, (8, 10, 3)) == (0, 0, 8, 10)
    assert grow_box((2, 3, 5, 6), 1, (8, 10)) == (1, 2, 6, 7)
    image = np.arange(80).reshape(8, 10)
    assert np.array_equal(image[box_slices((1, 2, 6, 7))], image[1:6, 2:7])


@pytest.mark.parametrize("shape", [(6, 10, 3), (10, 6, 3), (7, 7, 3), (5, 8)])
def test_pad_to_square_centres_the_array_and_the_box_crops_it_back(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    array = rng.integers(1, 256, shape, dtype=np.uint8)
    square, box = pad_to_square(array)
    side = max(shape[:2])
    assert square.shape == (side, side, *shape[2:]) and square.dtype == np.uint8
    assert box == Letterbox.of(shape)
    assert (box.top, box.left) == ((side - shape[0]) // 2, (side - shape[1]) // 2)
    inside = square[box.top : box.top + box.height, box.left : box.left + box.width]
    assert np.array_equal(inside, array)
    assert int(square.sum()) == int(array.sum())  # the padding is zero
    if box.is_square:
        assert square is array  # nothing to pad: no copy


@pytest.mark.parametrize("labels", [False, True])
def test_letterbox_round_trip_gives_the_image_back(labels: bool) -> None:
    rng = np.random.default_rng(1)
    if labels:
        array = rng.integers(0, 19, (20, 40), np.uint8)
    else:  # a smooth image (a resampling round trip keeps it; noise it would not)
        rows, cols = np.mgrid[0:20, 0:40]
        array = np.stack([rows * 10 + 30, cols * 5 + 20, np.full_like(rows, 128)], axis=-1).astype(np.uint8)
    small, box = letterbox(array, 20, labels=labels)  # 40² square shrunk by 2
    assert small.shape[:2] == (20, 20) and small.dtype == np.uint8
    assert np.array_equal(small[:5], np.zeros_like(small[:5]))  # the top padding stays black / label 0
    big, box = letterbox(array, 80, labels=labels)  # enlarged by 2: every pixel survives
    back = unletterbox(big, box, labels=labels)
    assert back.shape == array.shape
    if labels:  # nearest neighbour both ways: exact
        assert np.array_equal(back, array)
    else:  # cubic up then area down: close, except where the black padding bleeds into the edge rows
        error = np.abs(back.astype(int) - array)
        assert error[2:-2].max() <= 2 and error.mean() < 1.5
    same, square_box = letterbox(array[:, :20], 20, labels=labels)
    assert square_box.is_square and np.array_equal(same, array[:, :20])
