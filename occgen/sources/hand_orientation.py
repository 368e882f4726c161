"""Which way the fingers point, read from a hand's matte (no pre-rotated crops needed).

Two cues, in order:
1. **border**: in an uncropped photo (11k Hands) the forearm leaves the frame, so the wrist is where the
   matte meets the image border; the fingers point from that contact toward the hand's centroid.
2. **profile**: for a cut-out that touches no border, split the matte along its principal axis and count
   the separate runs across each end: spread fingers make several runs, a wrist makes one.

Angles are in image coordinates, degrees: 0 = +x (right), 90 = +y (down), -90 = up.
Used by the matting stage (recorded in the manifest) and by the NatOcc recipe for placement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from occgen.core.arrays import check_alpha
from occgen.core.errors import EmptyOccluderError

SIDES = ("top", "bottom", "left", "right")


@dataclass(frozen=True, kw_only=True)
class FingerDirection:
    angle_deg: float
    wrist_side: str  # top | bottom | left | right | none
    method: str  # border | profile


def _border_contact(mask: np.ndarray, band_px: int) -> dict[str, np.ndarray]:
    """Coordinates ``(x, y)`` of the mask pixels in the ``band_px`` frame of each side."""
    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    selectors = {
        "top": ys < band_px,
        "bottom": ys >= height - band_px,
        "left": xs < band_px,
        "right": xs >= width - band_px,
    }
    return {side: np.stack([xs[sel], ys[sel]], axis=1).astype(np.float64) for side, sel in selectors.items()}


def _principal_axis(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    points = np.stack([xs, ys], axis=1).astype(np.float64)
    points -= points.mean(axis=0)
    _, vectors = np.linalg.eigh(points.T @ points)
    return vectors[:, -1]


def _mean_runs(mask: np.ndarray) -> float:
    """Mean number of separate runs of foreground per row of ``mask`` (rows with any foreground)."""
    rows = mask.astype(np.int8)
    starts = np.diff(np.pad(rows, ((0, 0), (1, 0))), axis=1) == 1
    counts = starts.sum(axis=1)
    occupied = counts > 0
    return float(counts[occupied].mean()) if occupied.any() else 0.0


def _profile_direction(mask: np.ndarray, end_frac: float = 0.25) -> float:
    ys, xs = np.nonzero(mask)
    axis = _principal_axis(xs, ys)
    cx, cy = float(xs.mean()), float(ys.mean())
    # Rotate the mask so that the principal axis runs along +y; then rows cut across the hand.
    angle = math.degrees(math.atan2(axis[1], axis[0]))
    height, width = mask.shape
    diagonal = int(math.ceil(math.hypot(height, width))) + 2
    matrix = cv2.getRotationMatrix2D((cx, cy), angle - 90.0, 1.0)
    matrix[:, 2] += np.array([diagonal / 2 - cx, diagonal / 2 - cy])
    turned = cv2.warpAffine(mask.astype(np.uint8), matrix, (diagonal, diagonal), flags=cv2.INTER_NEAREST) > 0
    rows = np.nonzero(turned.any(axis=1))[0]
    first, last = int(rows[0]), int(rows[-1]) + 1
    span = max(int((last - first) * end_frac), 1)
    runs_low = _mean_runs(turned[first : first + span])  # the end toward -axis
    runs_high = _mean_runs(turned[last - span : last])  # the end toward +axis
    if runs_low == runs_high:  # no finger gaps to read: the wider end holds palm and fingers
        wide_low = turned[first : first + span].sum()
        wide_high = turned[last - span : last].sum()
        sign = 1.0 if wide_high >= wide_low else -1.0
    else:
        sign = 1.0 if runs_high > runs_low else -1.0
    return math.degrees(math.atan2(sign * axis[1], sign * axis[0]))


def finger_direction(alpha: np.ndarray, *, threshold: float = 0.5, min_contact_px: int = 3) -> FingerDirection:
    """Estimate the finger direction of the hand in ``alpha`` (``float32 (H, W)``, uncropped if possible).

    Raises :class:`EmptyOccluderError` if no pixel reaches ``threshold``.
    """
    check_alpha(alpha, "hand alpha")
    mask = alpha >= threshold
    if not mask.any():
        raise EmptyOccluderError("hand matte is empty: no pixel reaches the alpha threshold")
    band = max(2, round(0.004 * max(mask.shape)))
    contacts = _border_contact(mask, band)
    side = max(SIDES, key=lambda s: len(contacts[s]))
    if len(contacts[side]) >= min_contact_px * band:
        ys, xs = np.nonzero(mask)
        wrist = contacts[side].mean(axis=0)
        dx, dy = float(xs.mean()) - wrist[0], float(ys.mean()) - wrist[1]
        if math.hypot(dx, dy) > 1e-6:
            return FingerDirection(angle_deg=math.degrees(math.atan2(dy, dx)), wrist_side=side, method="border")
    return FingerDirection(angle_deg=_profile_direction(mask), wrist_side="none", method="profile")


def angle_difference_deg(a: float, b: float) -> float:
    """The signed difference ``a - b`` wrapped to (-180, 180]."""
    diff = (a - b + 180.0) % 360.0 - 180.0
    return 180.0 if diff == -180.0 else diff
