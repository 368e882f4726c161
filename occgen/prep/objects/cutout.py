"""Cutting one COCO object out of its photo (the pure part of :mod:`occgen.prep.objects.coco`): decode its
segmentation, measure its solidity and truncation, and crop it as RGBA with a soft alpha edge.

Numpy in, numpy out, no I/O; :mod:`occgen.prep.objects.coco_select` uses the measures to choose objects and
:mod:`occgen.prep.objects.coco` (the stage) writes the crops.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from occgen.core.arrays import check_image, check_mask, check_same_size
from occgen.core.errors import ConfigError, SourceError
from occgen.core.geometry import grow_box, mask_bbox


@dataclass(frozen=True, kw_only=True)
class CutOutConfig:
    """How a kept object becomes an RGBA crop (``--edge-sigma`` sets ``edge_sigma_px``).

    ``pad_px`` transparent margin around the mask box (so the soft edge is not clipped); the alpha edge is
    the binary mask eroded by ``edge_erode_px`` then Gaussian-blurred with ``edge_sigma_px`` (a COCO polygon
    edge is coarse: a hard edge shows a halo of background once composited).
    """

    pad_px: int = 4
    edge_erode_px: int = 1
    edge_sigma_px: float = 1.0

    def __post_init__(self) -> None:
        if self.pad_px < 0 or self.edge_erode_px < 0 or self.edge_sigma_px < 0:
            raise ConfigError("objects.cutout: pad_px, edge_erode_px and edge_sigma_px must be >= 0")



def segmentation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """Decode a COCO segmentation (polygons, uncompressed or compressed RLE) to ``uint8 (H, W)`` in {0, 1}."""
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):  # polygons: merge the parts into one RLE
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):  # uncompressed RLE
        rle = mask_utils.frPyObjects(segmentation, height, width)
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), str | bytes):
        rle = segmentation
    else:
        raise SourceError(f"unknown COCO segmentation format: {type(segmentation).__name__}")
    return np.ascontiguousarray(mask_utils.decode(rle), dtype=np.uint8)


def mask_solidity(mask: np.ndarray) -> float:
    """Mask area / area of the convex hull of all its pixels (1.0 for a convex shape, 0.0 if empty)."""
    check_mask(mask)
    area = int(mask.sum())
    if area == 0:
        return 0.0
    points = cv2.findNonZero(mask)
    # Pixel centres: the hull of a w x h box of pixels has area (w-1)(h-1); add back the half-pixel rim
    # (perimeter / 2 + 1) so a filled rectangle scores exactly 1.
    hull = cv2.convexHull(points)
    hull_area = cv2.contourArea(hull) + cv2.arcLength(hull, True) / 2.0 + 1.0
    return min(area / hull_area, 1.0)


def is_truncated(bbox: Iterable[float], width: int, height: int, margin_px: int) -> bool:
    """True if the COCO box ``[x, y, w, h]`` comes within ``margin_px`` of the image border."""
    x, y, w, h = bbox
    return x <= margin_px or y <= margin_px or x + w >= width - margin_px or y + h >= height - margin_px


def soft_alpha(mask: np.ndarray, erode_px: int, sigma_px: float) -> np.ndarray:
    """``float32 (H, W)`` alpha in [0, 1]: ``mask`` eroded by ``erode_px``, then Gaussian-blurred."""
    check_mask(mask)
    alpha: np.ndarray = mask.astype(np.float32)
    if erode_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode_px + 1, 2 * erode_px + 1))
        alpha = cv2.erode(alpha, kernel)
    if sigma_px > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=sigma_px, borderType=cv2.BORDER_CONSTANT)
    return np.clip(alpha, 0.0, 1.0)


def cut_out(image: np.ndarray, mask: np.ndarray, config: CutOutConfig) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Cut the object ``mask`` selects out of ``image``: ``(uint8 (h, w, 4) RGBA, (x0, y0, x1, y1))``.

    The crop is the mask's box plus ``pad_px`` (clipped to the image); pixels outside the object keep
    their colour with alpha 0.
    """
    check_image(image)
    check_mask(mask)
    check_same_size(image, mask, "image", "mask")
    found = mask_bbox(mask)
    if found is None:
        raise SourceError("the object's mask is empty")
    y0, x0, y1, x1 = grow_box(found, config.pad_px, mask.shape)
    alpha = soft_alpha(np.ascontiguousarray(mask[y0:y1, x0:x1]), config.edge_erode_px, config.edge_sigma_px)
    rgba = np.dstack([image[y0:y1, x0:x1], np.round(alpha * 255.0).astype(np.uint8)])
    return rgba, (x0, y0, x1, y1)
