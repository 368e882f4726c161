"""Facial landmarks derived from a parsing map, and whether each one is visible.

Where it sits: the bottom layer (numpy only). :mod:`occgen.recipes.labels` builds the ``landmarks`` and
``landmark_visible`` label arrays with these functions; a recipe that moves a sample (FaceOcc's whole-sample
affine) moves the points as a ``keypoints`` target (:mod:`occgen.core.targets`) with
:data:`occgen.core.labels.LANDMARK_FLIP_PERM`.

No face source occgen reads carries landmark files (CelebAMask-HQ has none; FaceOcc's FFHQ-aligned faces come
without their 5 points), so every face gets the parsing-derived scheme :data:`occgen.core.labels.LANDMARK_NAMES`
(float32 (K, 2) x, y; pixel ``(row, col)`` has its centre at ``x = col, y = row``). Parsing ids are
:data:`occgen.core.labels.PARSING_CLASSES`:

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

import numpy as np

from occgen.core.errors import ArrayContractError
from occgen.core.labels import LANDMARK_NAMES, PART_ID

_LIPS = (PART_ID["mouth"], PART_ID["u_lip"], PART_ID["l_lip"])
_NAN = np.array([np.nan, np.nan])


def _pixels(parsing: np.ndarray, ids: tuple[int, ...]) -> np.ndarray:
    """(P, 2) float64 x, y of the pixels holding any of ``ids``."""
    where = parsing == ids[0]
    for extra in ids[1:]:
        where |= parsing == extra
    rows, cols = np.nonzero(where)
    return np.stack([cols, rows], axis=1).astype(np.float64)


def _centroid(points: np.ndarray) -> np.ndarray:
    return points.mean(axis=0) if len(points) else _NAN.copy()


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
    point = {name: _centroid(_pixels(parsing, (PART_ID[part],))) for name, part in (
        ("left_eye", "l_eye"), ("right_eye", "r_eye"), ("left_brow", "l_brow"), ("right_brow", "r_brow"),
        ("nose_center", "nose"), ("upper_lip", "u_lip"), ("lower_lip", "l_lip"))}  # fmt: skip
    lips = _pixels(parsing, _LIPS)
    point["mouth_center"] = mouth = _centroid(lips)
    frame = _frame([(point["left_eye"], point["right_eye"]), (point["left_brow"], point["right_brow"])], mouth)
    for name in ("mouth_left", "mouth_right", "chin", "jaw_left", "jaw_right"):
        point[name] = _NAN.copy()
    if frame is not None:
        origin, u, d, band = frame
        point["mouth_left"], point["mouth_right"] = _extreme(lips, u), _extreme(lips, -u)
        skin = _pixels(parsing, (PART_ID["skin"],))
        axis = mouth if np.isfinite(mouth).all() else origin
        point["chin"] = _extreme(skin[np.abs((skin - axis) @ u) <= band], d)
        if np.isfinite(mouth).all():
            level = skin[np.abs((skin - mouth) @ d) <= band]
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
