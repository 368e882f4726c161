"""FFHQ-style face alignment: an oriented square crop from the eyes and mouth, resized to ``size``².

The crop is the one of the FFHQ data set (NVlabs/ffhq-dataset ``download_ffhq.py``, facts only), which the
NatOcc paper used for RealOcc: with ``e2e`` the eye-to-eye vector and ``e2m`` the vector from the eyes'
midpoint to the mouth corners' midpoint,

- ``x = e2e - rot90(e2m)``, normalised, times ``max(2.0 |e2e|, 1.8 |e2m|)`` (the crop's half side);
- ``y = rot90(x)``; the centre ``c = eye_mid + 0.1 e2m``;
- the quad ``c - x - y, c - x + y, c + x + y, c + x - y`` (top-left, bottom-left, bottom-right, top-right)
  is mapped onto the output square.

Differences from FFHQ's script, on purpose: one affine warp (OpenCV) after an area pre-shrink instead of
PIL's 4096² quad transform plus antialiased resize, and reflected padding without FFHQ's blurred blend
where the crop leaves the image. Masks are warped with nearest neighbour (0 outside the image), so they
stay binary.

Landmarks are (x, y) pixel coordinates with pixel centres at integers (OpenCV's convention): either the
68 iBUG points (eye centres = means of points 36-41 and 42-47, mouth corners = points 48 and 54) or 5
points in the common order eye, eye, nose tip, mouth corner, mouth corner (image-left first).

``--template faceocc`` instead reproduces the FaceOcc authors' 256² frame (:func:`align_face_faceocc`).

Where it sits: ``occgen faces align`` (:mod:`occgen.prep.faces.stage`) runs :func:`align_face` over a folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from occgen.core.arrays import check_image, check_mask
from occgen.core.errors import ArrayContractError, ConfigError


@dataclass(frozen=True)
class AlignmentPoints:
    """Eye centres and mouth corners, each ``float64 (2,)`` (x, y), image-left first."""

    eye_left: np.ndarray
    eye_right: np.ndarray
    mouth_left: np.ndarray
    mouth_right: np.ndarray


def alignment_points(landmarks: np.ndarray) -> AlignmentPoints:
    """Eye centres and mouth corners from 68 (iBUG) or 5 (eye, eye, nose, mouth, mouth) landmarks."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) not in (5, 68):
        raise ArrayContractError(f"landmarks: expected (68, 2) or (5, 2) x, y coordinates, got {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ArrayContractError("landmarks: coordinates must be finite")
    if len(points) == 68:
        return AlignmentPoints(points[36:42].mean(axis=0), points[42:48].mean(axis=0), points[48], points[54])
    return AlignmentPoints(points[0], points[1], points[3], points[4])


def _rot90(vector: np.ndarray) -> np.ndarray:
    # FFHQ's np.flipud(v) * [-1, 1]: (x, y) -> (-y, x).
    return np.array([-vector[1], vector[0]])


def ffhq_quad(points: AlignmentPoints) -> np.ndarray:
    """The FFHQ crop quad ``float64 (4, 2)``: top-left, bottom-left, bottom-right, top-right."""
    eye_mid = (points.eye_left + points.eye_right) / 2
    eye_to_eye = points.eye_right - points.eye_left
    eye_to_mouth = (points.mouth_left + points.mouth_right) / 2 - eye_mid
    x = eye_to_eye - _rot90(eye_to_mouth)
    norm = float(np.hypot(*x))
    if norm < 1e-6:
        raise ArrayContractError("landmarks: eyes and mouth coincide; cannot orient the face")
    x = x / norm * max(float(np.hypot(*eye_to_eye)) * 2.0, float(np.hypot(*eye_to_mouth)) * 1.8)
    y = _rot90(x)
    centre = eye_mid + 0.1 * eye_to_mouth
    return np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y])


def quad_to_square(quad: np.ndarray, size: int) -> np.ndarray:
    """Affine ``float64 (2, 3)`` taking the quad's corners to the corners of a ``size``² image.

    Corners are pixel edges: they land on -0.5 and ``size - 0.5`` in pixel-centre coordinates.
    """
    lo, hi = -0.5, size - 0.5
    src = np.asarray(quad[[0, 1, 3]], np.float32)
    dst = np.array([[lo, lo], [lo, hi], [hi, lo]], np.float32)
    return cv2.getAffineTransform(src, dst).astype(np.float64)


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` affine to ``(K, 2)`` points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


@dataclass(frozen=True)
class AlignedFace:
    """``image`` uint8 (S, S, 3), ``mask`` uint8 (S, S) {0, 1} or ``None``, ``landmarks`` in the output
    frame, and ``matrix`` the (2, 3) affine from the input image to the output."""

    image: np.ndarray
    mask: np.ndarray | None
    landmarks: np.ndarray
    matrix: np.ndarray


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int, mask: np.ndarray | None = None) -> AlignedFace:
    """FFHQ-align ``image`` (and its ``mask``, nearest neighbour) to ``size``² from its ``landmarks``."""
    check_image(image)
    if size < 8:
        raise ConfigError(f"alignment size must be at least 8 px, got {size}")
    quad = ffhq_quad(alignment_points(landmarks))
    return warp_face(image, landmarks, quad_to_square(quad, size), size, mask)


def warp_face(
    image: np.ndarray, landmarks: np.ndarray, matrix: np.ndarray, size: int, mask: np.ndarray | None = None
) -> AlignedFace:
    """Warp ``image`` (bilinear, reflected border) and ``mask`` (nearest, 0 outside) by the forward affine
    ``matrix`` into ``size``²; an image shrunk by the warp is area-filtered first so that it does not alias."""
    check_image(image)
    if mask is not None:
        check_mask(mask)
        if mask.shape != image.shape[:2]:
            raise ArrayContractError(f"mask is {mask.shape} but image is {image.shape[:2]}: they must match")
    height, width = image.shape[:2]
    scale = math.sqrt(abs(float(np.linalg.det(matrix[:, :2]))))
    source, source_matrix = image, matrix
    if scale < 1.0:
        # Shrink with an area filter first so that the warp (bilinear) does not alias.
        small_w, small_h = max(1, round(width * scale)), max(1, round(height * scale))
        source = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA)
        sx, sy = small_w / width, small_h / height
        # small = S(original) with pixel centres kept: p_small = (p + 0.5) * s - 0.5; invert and compose.
        unshrink = np.array([[1 / sx, 0, 0.5 / sx - 0.5], [0, 1 / sy, 0.5 / sy - 0.5], [0, 0, 1]])
        source_matrix = matrix @ unshrink
    aligned = cv2.warpAffine(
        source, source_matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    aligned_mask = None
    if mask is not None:
        aligned_mask = cv2.warpAffine(
            mask, matrix, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
    return AlignedFace(aligned, aligned_mask, transform_points(matrix, landmarks), matrix)


# --- the FaceOcc frame (issue 18) --------------------------------------------------------------------------

#: The five template points of the FaceOcc authors' alignment, in their final order: eye centre image-left,
#: eye centre image-right (each the midpoint of the eye's two corners), nose tip, mouth corner image-left,
#: mouth corner image-right; (X, Y, Z) in the template's normalised units, y up. Values of key 'lm' of
#: face_align/similarity_Lm3D_all.mat reduced as align.py:15-18 does (iBUG 1-based [31, mean(37, 40),
#: mean(43, 46), 49, 55], reordered [1, 2, 0, 3, 4]); numbers from /work/notes/faceocc.md section 2.
FACEOCC_TEMPLATE = np.array(
    [
        [-0.311487, 0.290361, 0.133780],
        [0.309799, 0.289720, 0.131795],
        [0.003253, -0.046179, 0.552442],
        [-0.252169, -0.381339, 0.224057],
        [0.248466, -0.381282, 0.222358],
    ]
)
FACEOCC_SIZE = 256  # target_size (align.py:51)
FACEOCC_SCALE_PX = 116.0  # scale = 116 / s (align.py:53): one template unit is 116 px at 256²


def faceocc_points(landmarks: np.ndarray) -> np.ndarray:
    """The five FaceOcc points ``float64 (5, 2)`` from 68 iBUG landmarks (eye centre = mean of the eye's
    two corners, 0-based 36/39 and 42/45; nose tip 30; mouth corners 48, 54; align.py:25-29) or from 5
    points already in that order (eye, eye, nose tip, mouth corner, mouth corner)."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) not in (5, 68):
        raise ArrayContractError(f"landmarks: expected (68, 2) or (5, 2) x, y coordinates, got {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ArrayContractError("landmarks: coordinates must be finite")
    if len(points) == 5:
        return points
    return np.stack([(points[36] + points[39]) / 2, (points[42] + points[45]) / 2, points[30], points[48], points[54]])


def faceocc_matrix(landmarks: np.ndarray, size: int = FACEOCC_SIZE) -> np.ndarray:
    """The forward affine ``(2, 3)`` into the FaceOcc frame: the authors' fit and warp (align.py:23-57).

    1. An affine camera ``q = [R1 . P + tx, R2 . P + ty]`` (8 parameters) is fitted by least squares to the
       five points in y-up coordinates ``q = (x, -y)`` against the 3-D template P (align.py:31-39).
    2. ``s = (|R1| + |R2|) / 2`` (align.py:41-46); rotation is dropped: the warp is scale ``116 / s`` and a
       translation putting the template origin at the centre (align.py:53-57), so in-plane roll is kept,
       as in the authors' frame.

    A frontal face's template point (X, Y, Z) lands at ``(128 + 116 X, 128 - 116 Y)`` at 256². Deviation:
    the authors' y offset uses ``h0 - t_y`` against ``h0 - 1 - y`` (a sub-pixel off-by-one, align.py:55,96);
    here both use the same convention, so aligning an aligned face changes nothing. Other sizes scale the
    frame by ``size / 256``.
    """
    points = faceocc_points(landmarks)
    q = np.stack([points[:, 0], -points[:, 1]], axis=1)
    design = np.hstack([FACEOCC_TEMPLATE, np.ones((5, 1))])
    solution, *_ = np.linalg.lstsq(design, q, rcond=None)  # (4, 2): columns are [R1; tx] and [R2; ty]
    r1, r2 = solution[:3, 0], solution[:3, 1]
    s = (float(np.linalg.norm(r1)) + float(np.linalg.norm(r2))) / 2
    if s < 1e-6:
        raise ArrayContractError("landmarks: the five points coincide; cannot fit the FaceOcc template")
    origin = np.array([solution[3, 0], -solution[3, 1]])  # the template origin in y-down pixels
    frame = size / FACEOCC_SIZE
    scale = FACEOCC_SCALE_PX / s * frame
    centre = FACEOCC_SIZE / 2 * frame
    return np.array([[scale, 0.0, centre - scale * origin[0]], [0.0, scale, centre - scale * origin[1]]])


def align_face_faceocc(
    image: np.ndarray, landmarks: np.ndarray, size: int = FACEOCC_SIZE, mask: np.ndarray | None = None
) -> AlignedFace:
    """Align ``image`` (and ``mask``) into the FaceOcc authors' frame. The authors fill the strips outside
    the photo with a 10x10 box-blurred copy (align.py:70-83); here they are reflected (no blur)."""
    if size < 8:
        raise ConfigError(f"alignment size must be at least 8 px, got {size}")
    return warp_face(image, landmarks, faceocc_matrix(landmarks, size), size, mask)


#: ``occgen faces align --template``: how each frame is made.
TEMPLATES = {"ffhq": align_face, "faceocc": align_face_faceocc}
