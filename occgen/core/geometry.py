"""Boxes and letterboxing, written once: the bounding box of a mask, a box grown by a margin, and the padding
of an image or label map to a centred square (and back).

Boxes are ``(top, left, bottom, right)`` with ``bottom`` and ``right`` exclusive (numpy slicing: rows
``top:bottom``, columns ``left:right``). Where it sits: the bottom layer; faces, cut-outs, the compositor,
the clean-patch storage and prediction use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from occgen.core.imageio import resize_image, resize_labels

Box = tuple[int, int, int, int]  # (top, left, bottom, right), bottom and right exclusive


def mask_bbox(mask: np.ndarray) -> Box | None:
    """``(top, left, bottom, right)`` (exclusive) of the non-zero pixels of a 2-D ``mask`` (any dtype: bool,
    uint8 {0, 1} or [0, 255], float alpha), or None when it has none."""
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D (H, W) mask, got shape {mask.shape}")
    if mask.dtype == np.bool_:
        nonzero = mask.view(np.uint8)
    elif mask.dtype == np.uint8:
        nonzero = mask
    else:
        nonzero = (mask != 0).view(np.uint8)
    # OpenCV's bounding box of a single-channel 8-bit image is that of its non-zero pixels (one pass).
    x, y, width, height = cv2.boundingRect(np.ascontiguousarray(nonzero))
    if width == 0 or height == 0:
        return None
    return y, x, y + height, x + width


def grow_box(box: Box, margin_px: int, shape: tuple[int, ...]) -> Box:
    """``box`` with ``margin_px`` added on each side, clipped to an image of ``shape`` (H, W, ...)."""
    top, left, bottom, right = box
    height, width = shape[:2]
    top, left = max(top - margin_px, 0), max(left - margin_px, 0)
    return top, left, min(bottom + margin_px, height), min(right + margin_px, width)


def box_slices(box: Box) -> tuple[slice, slice]:
    """``(rows, columns)`` slices of ``box``, for ``array[box_slices(box)]``."""
    top, left, bottom, right = box
    return slice(top, bottom), slice(left, right)


@dataclass(frozen=True)
class Letterbox:
    """Where an image sits in its padded square: ``side`` px, image at ``(top, left)`` of size ``(h, w)``."""

    side: int
    top: int
    left: int
    height: int
    width: int

    @classmethod
    def of(cls, shape: tuple[int, ...]) -> Letterbox:
        """The centred square of an array of ``shape`` (H, W, ...): side ``max(H, W)``."""
        height, width = shape[:2]
        side = max(height, width)
        return cls(side, (side - height) // 2, (side - width) // 2, height, width)

    @property
    def is_square(self) -> bool:
        return self.side == self.height == self.width


def pad_to_square(array: np.ndarray) -> tuple[np.ndarray, Letterbox]:
    """``array`` (H, W) or (H, W, C) centred on a zero square of side ``max(H, W)`` (itself when square)."""
    box = Letterbox.of(array.shape)
    if box.is_square:
        return array, box
    canvas = np.zeros((box.side, box.side, *array.shape[2:]), array.dtype)
    canvas[box.top : box.top + box.height, box.left : box.left + box.width] = array
    return canvas, box


def letterbox(array: np.ndarray, size: int, *, labels: bool = False) -> tuple[np.ndarray, Letterbox]:
    """``array`` padded to a centred square (black image / label 0) and resized to ``size``²: an image with
    :func:`~occgen.core.imageio.resize_image`, a label map (``labels=True``) with nearest neighbour."""
    square, box = pad_to_square(array)
    resize = resize_labels if labels else resize_image
    return resize(square, (size, size)), box


def unletterbox(array: np.ndarray, box: Letterbox, *, labels: bool = False) -> np.ndarray:
    """The inverse of :func:`letterbox`: ``array`` (S, S[, C]) resized to the square's side, then cropped to
    the original ``(h, w)``."""
    resize = resize_labels if labels else resize_image
    square = resize(array, (box.side, box.side))
    return square[box.top : box.top + box.height, box.left : box.left + box.width]
