"""Face masks from 68 facial landmarks: an approximation for faces without a parsing model.

The 68 points follow the iBUG 300-W layout (0-based, image-left first): jaw 0-16, brows 17-21 and 22-26,
nose 27-35, eyes 36-41 and 42-47, mouth 48-67. Landmarks outline the jaw but not the forehead, so the face
polygon is the jaw line closed by an arc above the brows: each brow point is pushed "up" (perpendicular to
the eye line, away from the mouth) by ``forehead_frac`` × the eye-centre distance at the middle of the
brows, half that at their outer ends. A typical forehead is about one eye distance high; the default 0.7
stays below most hairlines.

What this mask is not: it knows nothing about hair, glasses, hands or other occluders over the face (the
CelebAMask-HQ rule removes those), it includes the eyes and mouth, and the forehead height is a guess. Use it
for clean, unoccluded faces, or prefer ``--method parser``.

Licence caveat: dlib's 68-point predictor (``shape_predictor_68_face_landmarks.dat``, shipped by the
``face-recognition-models`` package) was trained on the iBUG 300-W data set, whose licence excludes commercial
use; masks made with it inherit that restriction. The polygon code itself works on landmarks from any source
(``--landmarks FILE``).

Where it sits: the pure functions here (:func:`face_polygon`, :func:`polygon_mask`) are used by
``occgen faces masks --method landmarks`` (:mod:`occgen.prep.faces.stage`); :class:`DlibLandmarker` is the
optional detector (``pip install 'occgen[landmarks]'``).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from occgen.core.arrays import check_image
from occgen.core.errors import ArrayContractError, ConfigError

JAW = slice(0, 17)
BROWS = slice(17, 27)
EYE_LEFT = slice(36, 42)  # the eye on the image's left (the subject's right)
EYE_RIGHT = slice(42, 48)
MOUTH_OUTER = slice(48, 60)

#: Default forehead height at the middle of the brows, as a fraction of the eye-centre distance.
FOREHEAD_FRAC = 0.7

LANDMARKS_EXTRA_HINT = (
    "install the optional landmark extra: pip install 'occgen[landmarks]' "
    "(dlib-bin + face-recognition-models), or pass your own landmarks with --landmarks FILE"
)


def check_landmarks68(landmarks: np.ndarray, name: str = "landmarks") -> np.ndarray:
    """Return ``landmarks`` as ``float64 (68, 2)`` (x, y) pixels, or raise saying what was got."""
    array = np.asarray(landmarks, dtype=np.float64)
    if array.shape != (68, 2):
        raise ArrayContractError(f"{name}: expected (68, 2) landmark x, y coordinates, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ArrayContractError(f"{name}: landmark coordinates must be finite")
    return array


def face_polygon(landmarks: np.ndarray, forehead_frac: float = FOREHEAD_FRAC) -> np.ndarray:
    """Face outline ``float64 (27, 2)``: the 17 jaw points, then the 10 forehead points right to left.

    ``forehead_frac`` is the forehead height at the middle of the brows as a fraction of the distance
    between the eye centres; 0 closes the polygon along the brows.
    """
    points = check_landmarks68(landmarks)
    if forehead_frac < 0:
        raise ConfigError(f"forehead_frac must be >= 0, got {forehead_frac}")
    eye_left, eye_right = points[EYE_LEFT].mean(axis=0), points[EYE_RIGHT].mean(axis=0)
    eye_distance = float(np.hypot(*(eye_right - eye_left)))
    if eye_distance < 1e-6:
        raise ArrayContractError("landmarks: both eye centres coincide; these are not face landmarks")
    across = (eye_right - eye_left) / eye_distance
    up = np.array([across[1], -across[0]])
    if np.dot(up, points[MOUTH_OUTER].mean(axis=0) - (eye_left + eye_right) / 2) > 0:
        up = -up  # "up" points away from the mouth, whatever the image orientation
    brows = points[BROWS]
    along = (brows - brows.mean(axis=0)) @ across
    half_span = max(float(np.abs(along).max()), 1e-6)
    # Elliptic-ish profile: full height in the middle, half height at the outer brow ends.
    height = forehead_frac * eye_distance * (1.0 - 0.5 * (along / half_span) ** 2)
    forehead = brows + height[:, None] * up[None, :]
    return np.concatenate([points[JAW], forehead[::-1]])


def polygon_mask(polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Fill a polygon (float (K, 2) x, y pixels) into a ``uint8 (H, W) {0, 1}`` mask of ``shape``."""
    polygon = np.asarray(polygon, dtype=np.float64)
    if polygon.ndim != 2 or polygon.shape[1] != 2 or len(polygon) < 3:
        raise ArrayContractError(f"polygon: expected (K >= 3, 2) points, got {polygon.shape}")
    mask = np.zeros(shape, np.uint8)
    shift = 4  # sub-pixel vertices: 1/16 px
    vertices = np.round(polygon * (1 << shift)).astype(np.int32)
    cv2.fillPoly(mask, [vertices], 1, lineType=cv2.LINE_8, shift=shift)
    return mask


def landmark_face_mask(
    landmarks: np.ndarray, shape: tuple[int, int], forehead_frac: float = FOREHEAD_FRAC
) -> np.ndarray:
    """68 landmarks → face polygon → ``uint8 (H, W) {0, 1}`` mask (see the module docstring's caveats)."""
    return polygon_mask(face_polygon(landmarks, forehead_frac), shape)


@dataclass(frozen=True)
class Detection:
    """Landmarks of the largest detected face and how many faces the detector saw."""

    landmarks: np.ndarray  # float64 (68, 2)
    n_faces: int


def dlib_predictor_path() -> Path:
    """Where ``face-recognition-models`` keeps dlib's 68-point predictor (found without importing it)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the 68-point landmark model is not installed; {LANDMARKS_EXTRA_HINT}")
    for location in spec.submodule_search_locations:
        path = Path(location) / "models" / "shape_predictor_68_face_landmarks.dat"
        if path.is_file():
            return path
    raise ConfigError(f"face-recognition-models is installed but has no 68-point model; {LANDMARKS_EXTRA_HINT}")


class DlibLandmarker:
    """dlib's HOG face detector + 68-point shape predictor (optional extra ``occgen[landmarks]``).

    ``predictor`` is a ``shape_predictor_68_face_landmarks.dat`` file; by default the one that
    ``face-recognition-models`` ships. ``upsample`` lets the detector find smaller faces (slower).
    """

    def __init__(self, predictor: Path | None = None, upsample: int = 1) -> None:
        try:
            dlib = importlib.import_module("dlib")
        except ImportError as error:
            raise ConfigError(f"--method landmarks needs dlib, which is not installed; {LANDMARKS_EXTRA_HINT}") from (
                error
            )
        path = Path(predictor) if predictor is not None else dlib_predictor_path()
        if not path.is_file():
            raise ConfigError(f"landmark predictor not found: {path}; pass a shape_predictor_68_face_landmarks.dat")
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(path))
        self.upsample = upsample

    def detect(self, image: np.ndarray) -> Detection | None:
        """Landmarks of the largest face in ``uint8 (H, W, 3)`` RGB ``image``, or ``None`` if none is found."""
        check_image(image)
        rects = list(self._detector(image, self.upsample))
        if not rects:
            return None
        rect = max(rects, key=lambda r: r.width() * r.height())
        shape = self._predictor(image, rect)
        points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)], np.float64)
        if points.shape != (68, 2):
            raise ConfigError(
                f"the landmark predictor gives {len(points)} points, 68 are needed; pass a 68-point model"
            )
        return Detection(points, len(rects))
