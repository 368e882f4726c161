"""Metrics from confusion counts, checked against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from occgen.core.errors import ArrayContractError
from occgen.train.metrics import (
    BoundaryCounts,
    Confusion,
    binarize_prediction,
    binarize_truth,
    boundary_band,
    boundary_counts,
    boundary_distance_px,
    boundary_iou,
    confusion,
    scores,
)


def test_hand_computed_case() -> None:
    truth = binarize_truth(np.array([[1, 1, 0, 0], [1, 1, 0, 0]], np.uint8))
    pred = binarize_prediction(np.array([[1, 0, 1, 0], [1, 1, 0, 0]], np.uint8))
    counts = confusion(pred, truth)
    assert counts == Confusion(tp=3, fp=1, fn=1, tn=3)
    s = scores(counts)
    assert s["face_iou"] == pytest.approx(3 / 5)
    assert s["background_iou"] == pytest.approx(3 / 5)
    assert s["miou"] == pytest.approx(3 / 5)
    assert s["fwiou"] == pytest.approx(0.5 * 3 / 5 + 0.5 * 3 / 5)
    assert s["pixel_accuracy"] == pytest.approx(6 / 8)
    assert s["face_recall"] == pytest.approx(3 / 4)
    assert s["dice"] == pytest.approx(6 / 8)


def test_unbalanced_case_fwiou_differs_from_miou() -> None:
    truth = np.zeros((10, 10), bool)
    truth[:, :2] = True  # 20 face pixels, 80 background
    pred = np.zeros((10, 10), bool)
    pred[:, :1] = True  # 10 face pixels found, 10 missed
    s = scores(confusion(pred, truth))
    assert s["face_iou"] == pytest.approx(10 / 20)
    assert s["background_iou"] == pytest.approx(80 / 90)
    assert s["miou"] == pytest.approx((0.5 + 80 / 90) / 2)
    assert s["fwiou"] == pytest.approx(0.2 * 0.5 + 0.8 * 80 / 90)
    assert s["dice"] == pytest.approx(20 / 30)


def test_empty_face() -> None:
    truth = np.zeros((4, 4), bool)
    s = scores(confusion(np.zeros((4, 4), bool), truth))  # nothing to find, nothing found
    assert math.isnan(s["face_iou"]) and math.isnan(s["face_recall"]) and math.isnan(s["dice"])
    assert s["background_iou"] == 1.0 and s["miou"] == 1.0 and s["fwiou"] == 1.0 and s["pixel_accuracy"] == 1.0
    pred = np.zeros((4, 4), bool)
    pred[0, :2] = True  # two false positives
    s = scores(confusion(pred, truth))
    assert s["face_iou"] == 0.0 and s["background_iou"] == pytest.approx(14 / 16)
    assert s["miou"] == pytest.approx(7 / 16) and s["fwiou"] == pytest.approx(14 / 16)
    assert math.isnan(s["face_recall"]) and s["dice"] == 0.0


def test_all_face() -> None:
    truth = np.ones((3, 3), bool)
    s = scores(confusion(np.ones((3, 3), bool), truth))
    assert s["face_iou"] == 1.0 and math.isnan(s["background_iou"]) and s["miou"] == 1.0 and s["fwiou"] == 1.0
    pred = np.ones((3, 3), bool)
    pred[0, 0] = False
    s = scores(confusion(pred, truth))
    assert s["face_iou"] == pytest.approx(8 / 9) and s["background_iou"] == 0.0 and s["miou"] == pytest.approx(4 / 9)
    assert s["fwiou"] == pytest.approx(8 / 9) and s["face_recall"] == pytest.approx(8 / 9)


def test_counts_add_up_over_images() -> None:
    a, b = Confusion(1, 2, 3, 4), Confusion(10, 20, 30, 40)
    assert a + b == Confusion(11, 22, 33, 44) and (a + b).total == 110
    assert math.isnan(scores(Confusion())["pixel_accuracy"])


def test_0_255_and_0_1_truth_agree() -> None:
    ones = np.array([[0, 1], [1, 1]], np.uint8)
    assert np.array_equal(binarize_truth(ones), binarize_truth(ones * 255))
    assert binarize_truth(ones * 255).dtype == bool
    with pytest.raises(ArrayContractError, match="0/1 or 0/255, found values \\[0, 1, 255\\]"):
        binarize_truth(np.array([[0, 1], [255, 0]], np.uint8))
    with pytest.raises(ArrayContractError, match="expected an \\(H, W\\) mask"):
        binarize_truth(np.zeros((2, 2, 3), np.uint8))


def test_prediction_binarisation() -> None:
    grey = np.array([[0, 127, 128, 255]], np.uint8)
    assert binarize_prediction(grey).tolist() == [[False, False, True, True]]
    assert binarize_prediction(grey, threshold=0.9).tolist() == [[False, False, False, True]]
    assert binarize_prediction(np.array([[0, 1]], np.uint8)).tolist() == [[False, True]]
    assert binarize_prediction(np.array([[0.2, 0.5]], np.float32)).tolist() == [[False, True]]
    with pytest.raises(ArrayContractError, match="must lie in \\[0, 1\\]"):
        binarize_prediction(np.array([[2.0]], np.float32))


def test_size_mismatch_and_non_bool_inputs_raise() -> None:
    with pytest.raises(ArrayContractError, match="must match"):
        confusion(np.zeros((2, 3), bool), np.zeros((3, 2), bool))
    with pytest.raises(ArrayContractError, match="binarise first"):
        confusion(np.zeros((2, 2), np.uint8), np.zeros((2, 2), bool))


# Boundary IoU (Cheng et al., CVPR 2021), counted by hand on small masks.


def _square(shape: tuple[int, int], rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[rows, cols] = True
    return mask


def test_boundary_iou_hand_computed_case() -> None:
    truth = _square((8, 8), slice(2, 6), slice(2, 6))  # 4x4 face
    pred = _square((8, 8), slice(2, 6), slice(2, 7))  # 4x5: one column too many on the right
    assert boundary_distance_px(8, 8) == 1  # 2 % of the 11.3 px diagonal rounds to 0: at least 1 px
    # d = 1: the truth's band is its 12-pixel ring (the 2x2 centre is 2 px from outside), the prediction's
    # band is its 14-pixel ring; they share the top and bottom rows (8) and the left column's middle (2).
    assert int(boundary_band(truth, 1).sum()) == 12 and int(boundary_band(pred, 1).sum()) == 14
    counts = boundary_counts(pred, truth)
    assert counts == BoundaryCounts(intersection=10, union=16)
    assert boundary_iou(pred, truth) == pytest.approx(10 / 16)
    assert scores(confusion(pred, truth))["face_iou"] == pytest.approx(16 / 20)  # the plain IoU is higher
    # d = 2 (20 % of the diagonal): every pixel of both squares is in its band, so it equals the plain IoU.
    assert boundary_counts(pred, truth, dilation_frac=0.2) == BoundaryCounts(intersection=16, union=20)


def test_boundary_band_counts_the_image_frame_as_outside() -> None:
    full = np.ones((4, 4), bool)
    band = boundary_band(full, 1)
    assert int(band.sum()) == 12 and not band[1:3, 1:3].any()


def test_boundary_iou_identical_empty_and_disjoint() -> None:
    yy, xx = np.mgrid[:120, :120]
    disk = (yy - 60) ** 2 + (xx - 55) ** 2 <= 40**2
    assert boundary_iou(disk, disk) == 1.0
    empty = np.zeros_like(disk)
    assert math.isnan(boundary_iou(empty, empty))
    assert boundary_iou(empty, disk) == 0.0 and boundary_iou(disk, empty) == 0.0
    # Counts add up over images: the pooled value is one ratio of the summed counts.
    total = boundary_counts(disk, disk) + boundary_counts(empty, disk)
    assert total.iou == pytest.approx(0.5)


def test_boundary_iou_is_low_when_only_the_edge_is_wrong() -> None:
    yy, xx = np.mgrid[:200, :200]
    truth = (yy - 100) ** 2 + (xx - 100) ** 2 <= 70**2
    pred = (yy - 100) ** 2 + (xx - 100) ** 2 <= 67**2  # the whole edge 3 px inside
    iou = scores(confusion(pred, truth))["face_iou"]
    biou = boundary_iou(pred, truth)  # d = round(0.02 * 282.8) = 6 px
    assert iou > 0.9 and biou < 0.4  # 0.915 and 0.317
    assert boundary_iou(pred, truth, dilation_frac=0.5) == pytest.approx(iou)  # a band past the centre: plain IoU


def test_boundary_iou_rejects_bad_input() -> None:
    mask = np.ones((4, 4), bool)
    with pytest.raises(ArrayContractError, match="binarise first"):
        boundary_iou(mask.astype(np.uint8), mask)
    with pytest.raises(ArrayContractError, match=r"\(4, 5\).*\(4, 4\)"):
        boundary_iou(np.ones((4, 5), bool), mask)
    with pytest.raises(ArrayContractError, match="fraction"):
        boundary_iou(mask, mask, dilation_frac=0.0)


def test_boundary_counts_equal_the_whole_image_bands() -> None:
    # boundary_counts works in the box around both masks: the same counts as the bands of the whole image,
    # for boxes inside the image and touching its frame.
    rng = np.random.default_rng(7)
    for _ in range(100):
        height, width = (int(v) for v in rng.integers(5, 40, 2))
        pred, truth = np.zeros((height, width), bool), np.zeros((height, width), bool)
        for mask in (pred, truth):
            top, left = int(rng.integers(0, height)), int(rng.integers(0, width))
            mask[top : top + int(rng.integers(1, height)), left : left + int(rng.integers(1, width))] = True
        distance = boundary_distance_px(height, width, 0.1)
        pred_band, truth_band = boundary_band(pred, distance), boundary_band(truth, distance)
        expected = BoundaryCounts(int((pred_band & truth_band).sum()), int((pred_band | truth_band).sum()))
        assert boundary_counts(pred, truth, dilation_frac=0.1) == expected
