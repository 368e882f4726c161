"""Facial landmarks derived from a parsing map, and whether each one is visible.

Where it sits: the bottom layer (numpy only). :mod:`occgen.recipes.labels` builds the ``landmarks`` and
``landmark_visible`` label arrays with these functions; a recipe that moves a sample (FaceOcc's whole-sample
affine) moves the points as a ``keypoints`` target (:mod:`occgen.core.targets`) with
:data:`occgen.core.labels.LANDMARK_FLIP_PERM`.

Stores hold this parsing-derived scheme by default (a face's own 5- or 68-point file,
:mod:`occgen.core.landmark_schemes`, drives anchored placement, and NatOcc stores it with
``natocc.landmark_scheme: source``, :mod:`occgen.recipes.landmark_label`):
:data:`occgen.core.labels.LANDMARK_NAMES` (float32 (K, 2) x, y; pixel ``(row, col)`` has its centre at
``x = col, y = row``). Parsing ids are :data:`occgen.core.labels.PARSING_CLASSES`:

- ``left_eye``, ``right_eye``, ``left_brow``, ``right_brow``, ``nose_center``: centroids of ``l_eye``,
  ``r_eye``, ``l_brow``, ``r_brow``, ``nose``; ``upper_lip``, ``lower_lip``: centroids of ``u_lip``, ``l_lip``;
  ``mouth_center``: centroid of ``mouth`` ∪ ``u_lip`` ∪ ``l_lip`` (the lips).
- The *face frame*: the unit vector ``u`` from ``right_eye`` to ``left_eye`` (from the brows when an eye is
  missing), and ``d`` perpendicular to it, pointing towards ``mouth_center`` (image-down when there is no
  mouth); ``band`` = max(1, 0.1 x the eye (or brow) distance) pixels.
- ``mouth_left`` / ``mouth_right``: the lip pixels furthest along ``+u`` / ``-u`` (first in row-major order on
  a tie).
- ``chin``: of the ``skin`` pixels within ``band`` of the face's vertical axis (the line along ``d`` through
  ``mouth_center``, else through the eyes' midpoint), the one furthest along ``d``.
- ``jaw_left`` / ``jaw_right``: of the ``skin`` pixels within ``band`` of the mouth line (along ``u`` through
  ``mouth_center``), the ones furthest along ``+u`` / ``-u``.

A point whose part is missing (absent, painted over by glasses or hair in the parsing map, or a face with only a
binary mask: :data:`occgen.core.labels.GENERIC_FACE`) is NaN; the frame-dependent points are NaN when neither
the eyes nor the brows give a frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from occgen.core.errors import ArrayContractError
from occgen.core.labels import LANDMARK_NAMES, PART_ID

_LIPS = (PART_ID["mouth"], PART_ID["u_lip"], PART_ID["l_lip"])
_NAN = np.array([np.nan, np.nan])


def _mask(parsing: np.ndarray, ids: tuple[int, ...]) -> np.ndarray:
    """uint8 (H, W) {0, 1}: the pixels holding any of ``ids``."""
    where = parsing == ids[0]
    for extra in ids[1:]:
        where |= parsing == extra
    return where.view(np.uint8)


def _centroid(mask: np.ndarray) -> np.ndarray:
    # Image moments (float64 sums) of the part's bounding box only: a few times cheaper than listing the pixels,
    # or than moments over the whole 512² map.
    x0, y0, x1, y1 = _box(mask)
    moments = cv2.moments(mask[y0:y1, x0:x1], binaryImage=True)
    if not moments["m00"]:
        return _NAN.copy()
    return np.array([x0 + moments["m10"] / moments["m00"], y0 + moments["m01"] / moments["m00"]])


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``, half-open, of the mask's pixels (empty: all 0)."""
    x, y, w, h = cv2.boundingRect(mask)
    return x, y, x + w, y + h


def _pixels_in(mask: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """(P, 2) float64 x, y of the mask's pixels inside ``box``, in row-major order."""
    x0, y0, x1, y1 = box
    rows, cols = np.nonzero(mask[y0:y1, x0:x1])
    return np.stack([cols + x0, rows + y0], axis=1).astype(np.float64)


def _strip(mask: np.ndarray, centre: np.ndarray, along: np.ndarray, across: np.ndarray, half: float) -> np.ndarray:
    """The mask's pixels within ``half`` pixels of the line through ``centre`` along ``along`` (``across`` is
    its unit normal), listed only inside the strip's bounding box (not the whole map)."""
    x0, y0, x1, y1 = _box(mask)
    if x1 <= x0:
        return np.zeros((0, 2))
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
    reach = (corners - centre) @ along
    ends = [centre + t * along + side * half * across for t in (reach.min(), reach.max()) for side in (-1, 1)]
    low, high = np.floor(np.min(ends, axis=0)), np.ceil(np.max(ends, axis=0)) + 1
    box = (max(x0, int(low[0])), max(y0, int(low[1])), min(x1, int(high[0])), min(y1, int(high[1])))
    pixels = _pixels_in(mask, box) if box[2] > box[0] and box[3] > box[1] else np.zeros((0, 2))
    return pixels[np.abs((pixels - centre) @ across) <= half]


def _extreme(points: np.ndarray, direction: np.ndarray) -> np.ndarray:
    return points[int(np.argmax(points @ direction))] if len(points) else _NAN.copy()


def _frame(pairs: list[tuple[np.ndarray, np.ndarray]], mouth: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """(origin, u, d, band) from the first (left, right) pair that is finite and apart; None if none is."""
    for left, right in pairs:
        span = left - right
        distance = float(np.hypot(*span)) if np.isfinite(span).all() else 0.0
        if distance > 0:
            u = span / distance
            origin = (left + right) / 2
            d = np.array([-u[1], u[0]])
            towards = mouth - origin if np.isfinite(mouth).all() else np.array([0.0, 1.0])
            if d @ towards < 0 or (d @ towards == 0 and d[1] < 0):
                d = -d
            return origin, u, d, np.array(max(1.0, 0.1 * distance))
    return None


def landmarks_from_parsing(parsing: np.ndarray) -> np.ndarray:
    """The :data:`~occgen.core.labels.LANDMARK_NAMES` points of a uint8 (H, W) parsing map -> float32 (K, 2)
    x, y pixels, NaN where a point's part is missing (rules in the module docstring). Pure: no I/O."""
    if not isinstance(parsing, np.ndarray) or parsing.ndim != 2 or parsing.dtype != np.uint8:
        got = f"{parsing.shape} {parsing.dtype}" if isinstance(parsing, np.ndarray) else type(parsing).__name__
        raise ArrayContractError(f"parsing map: expected (H, W) uint8, got {got}")
    point = {name: _centroid(_mask(parsing, (PART_ID[part],))) for name, part in (
        ("left_eye", "l_eye"), ("right_eye", "r_eye"), ("left_brow", "l_brow"), ("right_brow", "r_brow"),
        ("nose_center", "nose"), ("upper_lip", "u_lip"), ("lower_lip", "l_lip"))}  # fmt: skip
    lips_mask = _mask(parsing, _LIPS)
    point["mouth_center"] = mouth = _centroid(lips_mask)
    frame = _frame([(point["left_eye"], point["right_eye"]), (point["left_brow"], point["right_brow"])], mouth)
    for name in ("mouth_left", "mouth_right", "chin", "jaw_left", "jaw_right"):
        point[name] = _NAN.copy()
    if frame is not None:
        origin, u, d, band = frame
        lips = _pixels_in(lips_mask, _box(lips_mask))
        point["mouth_left"], point["mouth_right"] = _extreme(lips, u), _extreme(lips, -u)
        skin = _mask(parsing, (PART_ID["skin"],))
        has_mouth = bool(np.isfinite(mouth).all())
        point["chin"] = _extreme(_strip(skin, mouth if has_mouth else origin, d, u, float(band)), d)
        if has_mouth:
            level = _strip(skin, mouth, u, d, float(band))
            point["jaw_left"], point["jaw_right"] = _extreme(level, u), _extreme(level, -u)
    return np.array([point[name] for name in LANDMARK_NAMES], dtype=np.float32)


def landmark_pixels(landmarks: np.ndarray) -> np.ndarray:
    """(K, 2) int64 column, row of the pixel each point falls in (x, y rounded half up); NaN points give -1."""
    finite = np.isfinite(landmarks).all(axis=1)
    safe = np.where(finite[:, None], landmarks, -1.0)
    return np.floor(safe.astype(np.float64) + 0.5).astype(np.int64)


def landmark_visibility(landmarks: np.ndarray, occluder_mask: np.ndarray) -> np.ndarray:
    """uint8 (K,): 1 where a point lies inside the image (its pixel, :func:`landmark_pixels`) and the occluder
    covers that pixel less than half (``occluder_mask`` uint8 (H, W), alpha x 255, below 128); else 0 (NaN
    points are 0)."""
    if landmarks.ndim != 2 or landmarks.shape[1] != 2 or occluder_mask.ndim != 2 or occluder_mask.dtype != np.uint8:
        raise ArrayContractError(
            f"landmark visibility: expected (K, 2) points and an (H, W) uint8 occluder mask, got "
            f"{landmarks.shape} and {occluder_mask.shape} {occluder_mask.dtype}"
        )
    height, width = occluder_mask.shape
    pixels = landmark_pixels(landmarks)
    cols, rows = pixels[:, 0], pixels[:, 1]
    inside = np.isfinite(landmarks).all(axis=1) & (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    visible = np.zeros(len(landmarks), np.uint8)
    visible[inside] = occluder_mask[rows[inside], cols[inside]] < 128
    return visible
