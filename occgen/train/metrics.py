"""Face-segmentation metrics from confusion counts (pure numpy, no torch).

Per image, :func:`confusion` counts true/false positives/negatives of the *face* class; counts add up
over a dataset, and :func:`scores` turns any counts into metrics (so a dataset's scores are computed
from its summed counts, not by averaging per-image scores):

- ``face_iou`` = TP / (TP + FP + FN); ``background_iou`` = TN / (TN + FN + FP)
- ``miou`` = mean of the two IoUs (the NatOcc paper's metric, two classes)
- ``fwiou`` = frequency-weighted IoU: each class's IoU weighted by its share of ground-truth pixels
  (the NatOcc paper argues for it because background dominates mIoU)
- ``pixel_accuracy`` = (TP + TN) / all ("Global" in the FaceOcc paper)
- ``face_recall`` = TP / (TP + FN); ``dice`` = 2 TP / (2 TP + FP + FN)

A ratio whose denominator is 0 is undefined and reported as NaN (e.g. face IoU of an image with no face
in either mask); ``miou`` averages only the defined class IoUs, as MMSegmentation does.

**Boundary IoU** (Cheng, Girshick, Dollár, Berg, Kirillov: "Boundary IoU: Improving Object-Centric Image
Segmentation Evaluation", CVPR 2021) scores only the band of each mask within ``d`` pixels of its contour:
``|(G_d & G) & (P_d & P)| / |(G_d & G) | (P_d & P)|``, where ``G_d`` / ``P_d`` are the pixels within
distance ``d`` of the ground truth's / prediction's contour. ``d`` is :data:`BOUNDARY_DILATION_FRAC` (2 %, the
paper's default) of the image diagonal, rounded, at least 1 px. Here a mask pixel is in the band when its
Euclidean distance to the nearest pixel outside the mask is at most ``d`` (pixels beyond the image frame count
as outside, as in the authors' reference evaluation). Implemented from that definition with OpenCV's exact
distance transform. Like IoU it is kept as counts (:class:`BoundaryCounts`) that add up over a dataset.

**Per face size** (:func:`face_size_bin`): a face's size is the square root of its ground-truth visible-face
pixel count at the ground truth's resolution; bins ``<64px``, ``64-128px``, ``128-256px``, ``>=256px`` (and
``no face``). :func:`group_scores` pools the counts of each bin (or of each occluder type).

Masks are binarised explicitly: ground truth must hold 0/1 or 0/255 (:func:`binarize_truth`);
predictions may also be grey probability maps, thresholded by :func:`binarize_prediction`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ArrayContractError

METRIC_NAMES = ("face_iou", "background_iou", "miou", "fwiou", "pixel_accuracy", "face_recall", "dice")
BOUNDARY_METRIC = "face_boundary_iou"
BOUNDARY_DILATION_FRAC = 0.02  # d = 2 % of the image diagonal: Cheng et al., CVPR 2021, section 4


@dataclass(frozen=True)
class Confusion:
    """Pixel counts for the face class: ``tp`` face predicted as face, ``fp`` background predicted as face,
    ``fn`` face predicted as background, ``tn`` background predicted as background."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def _values_text(mask: np.ndarray) -> str:
    values = np.unique(mask)
    return f"{values[:8].tolist()}{'...' if values.size > 8 else ''}"


def binarize_truth(mask: np.ndarray, name: str = "ground truth") -> np.ndarray:
    """A ground-truth mask as bool: accepts bool, or integers with values in {0, 1} or {0, 255}."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ArrayContractError(f"{name}: expected an (H, W) mask, got shape {mask.shape}")
    if mask.dtype == bool:
        return mask
    if not np.issubdtype(mask.dtype, np.integer):
        raise ArrayContractError(f"{name}: expected an integer or bool mask, got {mask.dtype}")
    if mask.size == 0 or mask.max() <= 1:
        if mask.size and mask.min() < 0:
            raise ArrayContractError(f"{name}: negative values {_values_text(mask)}")
        return mask.astype(bool)
    if np.all((mask == 0) | (mask == 255)):
        return mask == 255
    raise ArrayContractError(f"{name}: a mask must hold 0/1 or 0/255, found values {_values_text(mask)}")


def binarize_prediction(mask: np.ndarray, name: str = "prediction", threshold: float = 0.5) -> np.ndarray:
    """A predicted mask as bool. 0/1 masks are taken as they are; other uint8 masks (0/255 or grey
    probability maps) are face where ``value / 255 >= threshold``; float masks where ``value >= threshold``."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ArrayContractError(f"{name}: expected an (H, W) mask, got shape {mask.shape}")
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.floating):
        if mask.size and (float(mask.min()) < 0.0 or float(mask.max()) > 1.0):
            low, high = float(mask.min()), float(mask.max())
            raise ArrayContractError(f"{name}: a float mask must lie in [0, 1], got [{low:.3g}, {high:.3g}]")
        return mask >= threshold
    if mask.dtype != np.uint8:
        raise ArrayContractError(f"{name}: expected a uint8, float or bool mask, got {mask.dtype}")
    if mask.size == 0 or mask.max() <= 1:
        return mask.astype(bool)
    return mask.astype(np.float32) / 255.0 >= threshold


def confusion(pred: np.ndarray, truth: np.ndarray) -> Confusion:
    """Counts for two boolean masks of the same shape, ``(H, W)`` or a batch ``(N, H, W)`` (binarise first)."""
    if pred.dtype != bool or truth.dtype != bool:
        raise ArrayContractError(f"confusion: expected bool masks, got {pred.dtype} and {truth.dtype}; binarise first")
    if pred.shape != truth.shape:
        raise ArrayContractError(f"prediction is {pred.shape} but ground truth is {truth.shape}: they must match")
    tp = int(np.count_nonzero(pred & truth))
    fp = int(np.count_nonzero(pred & ~truth))
    fn = int(np.count_nonzero(~pred & truth))
    return Confusion(tp, fp, fn, int(pred.size) - tp - fp - fn)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


def scores(counts: Confusion) -> dict[str, float]:
    """All metrics of :data:`METRIC_NAMES` from ``counts`` (fractions in [0, 1], NaN when undefined)."""
    tp, fp, fn, tn = counts.tp, counts.fp, counts.fn, counts.tn
    face_iou = _ratio(tp, tp + fp + fn)
    background_iou = _ratio(tn, tn + fn + fp)
    defined = [v for v in (face_iou, background_iou) if not np.isnan(v)]
    face_share, background_share = _ratio(tp + fn, counts.total), _ratio(tn + fp, counts.total)
    fwiou = float("nan")
    if counts.total:
        # A class with no ground-truth pixel has weight 0, whatever its (possibly undefined) IoU.
        fwiou = sum(share * iou for share, iou in ((face_share, face_iou), (background_share, background_iou)) if share)
    return {
        "face_iou": face_iou,
        "background_iou": background_iou,
        "miou": float(np.mean(defined)) if defined else float("nan"),
        "fwiou": float(fwiou),
        "pixel_accuracy": _ratio(tp + tn, counts.total),
        "face_recall": _ratio(tp, tp + fn),
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
    }


@dataclass(frozen=True)
class BoundaryCounts:
    """Pixel counts of the face boundary bands: ``intersection`` = |G_band & P_band|, ``union`` =
    |G_band | P_band| (see the module docstring); they add up over images like :class:`Confusion`."""

    intersection: int = 0
    union: int = 0

    def __add__(self, other: BoundaryCounts) -> BoundaryCounts:
        return BoundaryCounts(self.intersection + other.intersection, self.union + other.union)

    @property
    def iou(self) -> float:
        """Boundary IoU in [0, 1]; NaN when both bands are empty (no face in either mask)."""
        return _ratio(self.intersection, self.union)


def boundary_distance_px(height: int, width: int, dilation_frac: float = BOUNDARY_DILATION_FRAC) -> int:
    """The band width ``d`` in pixels: ``dilation_frac`` of the image diagonal, rounded, at least 1."""
    if not 0.0 < dilation_frac <= 1.0:
        raise ArrayContractError(f"boundary dilation must be a fraction in (0, 1] of the diagonal, got {dilation_frac}")
    return max(1, round(dilation_frac * math.hypot(height, width)))


def boundary_band(mask: np.ndarray, distance_px: int) -> np.ndarray:
    """The pixels of bool ``mask`` (H, W) within ``distance_px`` (Euclidean) of its contour, as bool (H, W):
    mask pixels whose nearest pixel outside the mask (or outside the image frame) is at most that far."""
    if mask.dtype != bool or mask.ndim != 2:
        raise ArrayContractError(f"boundary band: expected a bool (H, W) mask, got {mask.dtype} {mask.shape}")
    if distance_px < 1:
        raise ArrayContractError(f"boundary band: distance must be >= 1 px, got {distance_px}")
    padded = np.pad(mask, 1).astype(np.uint8)  # the frame is outside: a mask touching the border has an edge there
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    return mask & (distance <= distance_px)


def boundary_counts(
    pred: np.ndarray, truth: np.ndarray, *, dilation_frac: float = BOUNDARY_DILATION_FRAC
) -> BoundaryCounts:
    """Boundary-band counts of two bool (H, W) masks of the same shape (``d`` from the image diagonal)."""
    if pred.dtype != bool or truth.dtype != bool:
        raise ArrayContractError(
            f"boundary IoU: expected bool masks, got {pred.dtype} and {truth.dtype}; binarise first"
        )
    if pred.shape != truth.shape or pred.ndim != 2:
        raise ArrayContractError(
            f"prediction is {pred.shape} but ground truth is {truth.shape}: expected two equal (H, W)"
        )
    distance_px = boundary_distance_px(truth.shape[0], truth.shape[1], dilation_frac)
    # Only the box around both masks matters: everything outside it is background in both, and one pixel of
    # margin keeps each mask's own edge inside the crop (the image frame stays outside, as on the full image).
    left, top, width, height = cv2.boundingRect((pred | truth).view(np.uint8))
    if width == 0:
        return BoundaryCounts()
    rows = slice(max(top - 1, 0), top + height + 1)
    cols = slice(max(left - 1, 0), left + width + 1)
    pred_band, truth_band = boundary_band(pred[rows, cols], distance_px), boundary_band(truth[rows, cols], distance_px)
    return BoundaryCounts(int(np.count_nonzero(pred_band & truth_band)), int(np.count_nonzero(pred_band | truth_band)))


def boundary_iou(pred: np.ndarray, truth: np.ndarray, *, dilation_frac: float = BOUNDARY_DILATION_FRAC) -> float:
    """Boundary IoU of the face class of one image (Cheng et al., CVPR 2021); NaN when neither mask has a face."""
    return boundary_counts(pred, truth, dilation_frac=dilation_frac).iou


# Per face size: bins of the ground-truth visible face's size, sqrt(face pixels) at the ground truth's resolution
# (a 100 x 100 px visible face is 100 px). Edges in px; a face of exactly an edge goes to the upper bin.
FACE_SIZE_EDGES_PX = (64, 128, 256)
NO_FACE_BIN = "no face"


def face_size_px(truth: np.ndarray) -> float:
    """The size of a bool (H, W) ground-truth face: the square root of its pixel count, in px."""
    return math.sqrt(float(np.count_nonzero(truth)))


def face_size_bin(size_px: float, edges_px: tuple[int, ...] = FACE_SIZE_EDGES_PX) -> str:
    """The bin name of a face size: ``"<64px"``, ``"64-128px"``, ``"128-256px"``, ``">=256px"`` (default edges),
    or ``"no face"`` when the ground truth has no face pixel."""
    if size_px <= 0:
        return NO_FACE_BIN
    if size_px < edges_px[0]:
        return f"<{edges_px[0]}px"
    for low, high in zip(edges_px, edges_px[1:], strict=False):
        if low <= size_px < high:
            return f"{low}-{high}px"
    return f">={edges_px[-1]}px"


def face_size_bins(edges_px: tuple[int, ...] = FACE_SIZE_EDGES_PX) -> tuple[str, ...]:
    """Every bin name, smallest first, then ``"no face"`` (the order of ``by_face_size`` in a summary)."""
    names = [f"<{edges_px[0]}px"]
    names += [f"{low}-{high}px" for low, high in zip(edges_px, edges_px[1:], strict=False)]
    return (*names, f">={edges_px[-1]}px", NO_FACE_BIN)


def group_scores(rows: list[dict[str, Any]], key: str, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Pooled scores of the per-image rows (as ``EvalResult`` in :mod:`occgen.train.evaluate` keeps them) that
    share each value of ``key``, in the order of ``names`` (empty groups left out; "" is named "unstated"):
    images, face IoU, face recall, mIoU, fwIoU, face Boundary IoU and the per-image mean face IoU."""
    groups: dict[str, dict[str, Any]] = {}
    for name in names:
        members = [row for row in rows if row.get(key) == name]
        if not members:
            continue
        counts = sum((Confusion(r["tp"], r["fp"], r["fn"], r["tn"]) for r in members), Confusion())
        edge = sum((BoundaryCounts(r["boundary_intersection"], r["boundary_union"]) for r in members),
                   BoundaryCounts())  # fmt: skip
        values = scores(counts)
        defined = [r["face_iou"] for r in members if not math.isnan(r["face_iou"])]
        groups[name or "unstated"] = {
            "images": len(members), "face_iou": values["face_iou"], "face_recall": values["face_recall"],
            "miou": values["miou"], "fwiou": values["fwiou"],
            BOUNDARY_METRIC: edge.iou, "face_iou_per_image_mean": float(np.mean(defined)) if defined else float("nan"),
        }  # fmt: skip
    return groups
