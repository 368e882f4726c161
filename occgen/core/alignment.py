"""Five-point face alignment templates and the similarity transform that maps a face onto one.

Where it sits: the bottom layer (numpy only). Training's crop augmentation and ``occgen evaluate --crops``
(:mod:`occgen.train.crops`) re-frame a face the way a face tool does: estimate the similarity (rotation, uniform
scale, translation) taking the face's five points to a template's, then move the image and every label with
:class:`occgen.core.targets.AffineWarp`.

Five points, in this order (the order facefusion and InsightFace use): the eye on the image-left of an upright
face, the image-right eye, the nose tip, the image-left mouth corner, the image-right mouth corner.
:func:`five_points` takes them from the ``occgen-parsing-13`` landmarks (:mod:`occgen.core.landmarks`:
``left_eye``, ``right_eye``, ``nose_center``, ``mouth_left``, ``mouth_right``) and orders each pair by the face's
handedness (the eye pair and the mouth pair are swapped when the points' names would put the first point on the
image-right), so a mirrored sample gives the same framing as its original; :func:`five_points_from_ibug68` takes
them from the 68-point iBUG scheme (eye centres = means of points 37-42 and 43-48, nose tip 31, mouth corners 49
and 55, 1-based).

Templates are 5 (x, y) points as fractions of the crop side (pixel centres at ``x = col``), with the crop side
the consumer uses (``size_px``); the numbers are facts copied from the cited source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occgen.core.errors import ArrayContractError, ConfigError
from occgen.core.labels import LANDMARK_NAMES

FIVE_POINT_NAMES = ("eye_image_left", "eye_image_right", "nose_tip", "mouth_image_left", "mouth_image_right")
#: The occgen-parsing-13 points that give the five (before the handedness ordering).
_FROM_PARSING13 = tuple(LANDMARK_NAMES.index(name) for name in
                        ("left_eye", "right_eye", "nose_center", "mouth_left", "mouth_right"))  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class AlignTemplate:
    """A 5-point template: ``points_frac`` (5, 2) x, y as fractions of the crop side; ``size_px`` the crop side
    its consumers cut; ``source`` where the numbers come from."""

    name: str
    points_frac: tuple[tuple[float, float], ...]
    size_px: int
    source: str

    def points_px(self, side_px: float) -> np.ndarray:
        """float64 (5, 2): the template's points in a crop of ``side_px`` pixels."""
        return np.asarray(self.points_frac, dtype=np.float64) * side_px


_FACEFUSION = "facefusion 3.8.1, facefusion/face_helper.py WARP_TEMPLATE_SET"
# InsightFace's ArcFace reference in a 112-px crop (insightface python-package/insightface/utils/face_align.py,
# arcface_dst; the same numbers x 112 as facefusion's arcface_112_v2).
_ARCFACE_112_PX = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655),
                   (70.7299, 92.2041))  # fmt: skip


def _frac(points_px: tuple[tuple[float, float], ...], side: float, shift_x: float = 0.0, scale: float = 1.0):
    return tuple(((x * scale + shift_x) / side, y * scale / side) for x, y in points_px)


TEMPLATES: dict[str, AlignTemplate] = {
    template.name: template
    for template in (
        AlignTemplate(name="arcface_112_v1", size_px=112, source=_FACEFUSION, points_frac=(
            (0.35473214, 0.45658929), (0.64526786, 0.45658929), (0.50000000, 0.61154464),
            (0.37913393, 0.77687500), (0.62086607, 0.77687500))),
        AlignTemplate(name="arcface_128", size_px=128, source=_FACEFUSION, points_frac=(
            (0.36167656, 0.40387734), (0.63696719, 0.40235469), (0.50019687, 0.56044219),
            (0.38710391, 0.72160547), (0.61507734, 0.72034453))),
        AlignTemplate(name="ffhq_512", size_px=512, source=_FACEFUSION, points_frac=(
            (0.37691676, 0.46864664), (0.62285697, 0.46912813), (0.50123859, 0.61331904),
            (0.39308822, 0.72541100), (0.61150205, 0.72490465))),
        AlignTemplate(name="mtcnn_512", size_px=512, source=_FACEFUSION, points_frac=(
            (0.36562865, 0.46733799), (0.63305391, 0.46585885), (0.50019127, 0.61942959),
            (0.39032951, 0.77598822), (0.61178945, 0.77476328))),
        # facefusion's deep swapper (DeepFaceLive .dfm models) cuts it at the model's own size (224 for its
        # default iperov/elon_musk_224); DeepFaceLab's whole-face sets are commonly 256.
        AlignTemplate(name="dfl_whole_face", size_px=256, source=_FACEFUSION, points_frac=(
            (0.35342266, 0.39285716), (0.62797622, 0.39285716), (0.48660713, 0.54017860),
            (0.38839287, 0.68750011), (0.59821427, 0.68750011))),
        AlignTemplate(name="insightface_arcface_112", size_px=112, points_frac=_frac(_ARCFACE_112_PX, 112.0),
                      source="insightface python-package/insightface/utils/face_align.py arcface_dst"),
        # uniface (yakhyo/uniface, uniface/face_utils.py estimate_norm): a side that is a multiple of 128 takes
        # the ArcFace points x side/128 and shifts x by 8 x side/128; at 256 that is x2 and +16 px.
        AlignTemplate(name="uniface_256", size_px=256, points_frac=_frac(_ARCFACE_112_PX, 256.0, 16.0, 2.0),
                      source="yakhyo/uniface uniface/face_utils.py estimate_norm (reference_alignment, 256 px)"),
    )
}  # fmt: skip


def get_template(name: str) -> AlignTemplate:
    """The template called ``name``; an unknown name lists the valid ones."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ConfigError(f"unknown alignment template {name!r}; valid: {', '.join(TEMPLATES)}") from None


def _check_points(points: np.ndarray, count: int, what: str) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape != (count, 2):
        raise ArrayContractError(f"{what}: expected ({count}, 2) x, y points, got {array.shape}")
    return array


def order_by_handedness(points: np.ndarray) -> np.ndarray:
    """Five points with each eye / mouth-corner pair ordered so the first is on the face's image-left: the turn
    from the first eye to the second, then down to the mouth, is clockwise on screen (x right, y down). The face's
    "down" is taken from the eyes' midpoint to the mouth corners' midpoint (to the nose if the mouth is missing)."""
    out = _check_points(points, 5, "five points").copy()
    eyes_mid = (out[0] + out[1]) / 2
    below = (out[3] + out[4]) / 2 if np.isfinite(out[3:5]).all() else out[2]
    down = below - eyes_mid
    across = out[1] - out[0]
    if np.isfinite(down).all() and np.isfinite(across).all() and across[0] * down[1] - across[1] * down[0] < 0:
        out[[0, 1]] = out[[1, 0]]
    mouth_across = out[4] - out[3]
    if np.isfinite(down).all() and np.isfinite(mouth_across).all():
        if mouth_across[0] * down[1] - mouth_across[1] * down[0] < 0:
            out[[3, 4]] = out[[4, 3]]
    return out


def five_points(landmarks: np.ndarray) -> np.ndarray | None:
    """float64 (5, 2) of :data:`FIVE_POINT_NAMES` from ``occgen-parsing-13`` landmarks (float32 (13, 2)); None
    when any of the five is missing (NaN)."""
    points = _check_points(landmarks, len(LANDMARK_NAMES), "occgen-parsing-13 landmarks")[list(_FROM_PARSING13)]
    if not np.isfinite(points).all():
        return None
    return order_by_handedness(points)


def five_points_from_ibug68(points68: np.ndarray) -> np.ndarray:
    """float64 (5, 2) of :data:`FIVE_POINT_NAMES` from the 68 iBUG / 300-W points (0-based rows: eyes 36-41 and
    42-47 averaged, nose tip 30, mouth corners 48 and 54)."""
    p = _check_points(points68, 68, "iBUG 68-point landmarks")
    five = np.stack([p[36:42].mean(axis=0), p[42:48].mean(axis=0), p[30], p[48], p[54]])
    return order_by_handedness(five)


def similarity_matrix(source: np.ndarray, destination: np.ndarray) -> np.ndarray:
    """float64 (2, 3): the least-squares similarity (rotation, uniform scale, translation; no reflection) taking
    ``source`` points (N, 2) onto ``destination`` (N, 2) (Umeyama 1991, "Least-squares estimation of
    transformation parameters between two point patterns", eq. 40-42). Deterministic, unlike a RANSAC fit."""
    src = _check_points(source, len(source), "similarity source")
    dst = _check_points(destination, len(src), "similarity destination")
    if len(src) < 2 or not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise ArrayContractError("similarity: expected at least 2 finite point pairs")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = float((src_c**2).sum()) / len(src)
    if src_var <= 1e-12:
        raise ArrayContractError("similarity: the source points coincide, so no scale can be estimated")
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0  # keep a rotation (no reflection)
    rotation = u @ np.diag(sign) @ vt
    scale = float((singular * sign).sum()) / src_var
    translation = dst_mean - scale * rotation @ src_mean
    return np.concatenate([scale * rotation, translation[:, None]], axis=1)


def alignment_matrix(points5: np.ndarray, template: AlignTemplate, side_px: int) -> np.ndarray:
    """float64 (2, 3) mapping image pixels to a ``side_px`` crop framed by ``template``."""
    if side_px < 1:
        raise ArrayContractError(f"crop side must be >= 1 px, got {side_px}")
    return similarity_matrix(_check_points(points5, 5, "five points"), template.points_px(side_px))
