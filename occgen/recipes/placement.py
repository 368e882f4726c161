"""Where an occluder goes on a face: ``random`` (the NatOcc paper's placement, :func:`occgen.compose.sample_composite`)
or ``anchored`` to the face's landmarks (issue 25).

Where it sits: the recipes layer, between a recipe (which knows the face and its landmarks) and the compositor
(whose :class:`~occgen.compose.CompositeParams` it rewrites). Sample, then apply: :func:`sample_anchored` draws
every random choice into a frozen :class:`AnchoredPlacement`; :func:`apply_anchored` turns it into the
compositor's ``center_xy``, ``fit_scale``, ``rotation_deg`` deterministically.

The face frame comes from the landmarks (:mod:`occgen.core.landmarks`): ``o`` the eyes' midpoint, ``I`` the
inter-ocular distance in pixels, ``u`` the unit vector from ``right_eye`` to ``left_eye`` (the eye line; its
angle is the face's roll) and ``d`` perpendicular to it, pointing down the face. Anchors:

- ``mouth`` = ``mouth_center`` (else ``o + 1.1 I d``); ``chin`` = ``chin`` (else ``mouth + 0.7 I d``);
- ``left_cheek`` / ``right_cheek`` = ``o ± 0.75 I u + 0.75 I d``; ``left_eye`` / ``right_eye``; ``eyes`` = ``o``;
- ``brow`` = the brows' midpoint (else ``o - 0.35 I d``): hats above it; a procedural fringe of hair
  (:mod:`occgen.sources.hair`) is worn on it, its own anchor point (on the strands' lower part) at the brows.

Each occluder *family* (:data:`FAMILIES`, chosen by :func:`family_of` from the occluder's kind and, for COCO
objects and folders with categories, the category name) has weighted poses: an anchor, the directions the
occluder enters from (``below`` = +d, ``above`` = -d, ``side`` = ±u at random, ``outside`` = away from the face's
axis on the anchor's own side, ``front`` = no offset) and a ``reach`` (IOD units) along that direction. The
occluder's own anchor point (a worn occluder's ``anchor_xy`` from its source, else its alpha-weighted centroid)
lands on ``anchor + reach I entry + jitter`` (jitter uniform in ``± jitter_iod I`` along ``u`` and ``d``).
Size follows the face: the cut-out's longest side becomes ``size_iod x I``, or, for an occluder drawn for a
known eye distance (``iod_px`` in its params: procedural eyewear and face masks), its scale is
``I / iod_px x worn_scale``. Rotation follows the roll: ``upright`` and ``worn`` occluders turn by the roll plus
a tilt; ``long_axis`` ones (spoons, forks, microphones) lay their principal axis along the entry direction,
their head (the wider end, :func:`head_end`) toward the face;
``fingers`` (hands) point their fingers from the entry side toward the anchor.

A face without both eye landmarks (no parsing map, or the eyes hidden in it) cannot be anchored: the sample keeps
its random placement and its metadata says ``{"mode": "random", "requested": "anchored", "reason": ...}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from occgen.compose import CompositeParams, face_box, occluder_matrix
from occgen.core.errors import ConfigError
from occgen.core.labels import LANDMARK_NAMES
from occgen.core.params import to_plain

PLACEMENTS = ("random", "anchored")
Range = tuple[float, float]
_AT = {name: i for i, name in enumerate(LANDMARK_NAMES)}


@dataclass(frozen=True)
class Pose:
    """One way a family meets the face: ``anchor`` (see the module docstring), its ``weight`` among the family's
    poses, ``entries`` ((direction, weight) pairs), ``reach_iod`` (offset from the anchor along the entry
    direction, IOD units) and ``tilt_deg`` (added to the rotation)."""

    anchor: str
    weight: float
    entries: tuple[tuple[str, float], ...]
    reach_iod: Range = (0.0, 0.15)
    tilt_deg: Range = (-20.0, 20.0)


@dataclass(frozen=True)
class Family:
    """An occluder family: its poses, how it turns (``upright``, ``long_axis``, ``fingers``, ``worn``), its
    size (longest side in IOD units, ``size_iod``; ``worn_scale`` for cut-outs drawn for a known eye distance)
    and the positional ``jitter_iod``."""

    name: str
    poses: tuple[Pose, ...]
    orient: str = "upright"
    size_iod: Range = (0.8, 1.6)
    worn_scale: Range = (0.95, 1.08)
    jitter_iod: float = 0.08


_MOUTH_ENTRY = (("below", 0.6), ("side", 0.4))
#: The documented distribution of every family (docs/natocc.md, "Anchored placement"). A mouth-family occluder's
#: anchor point lands within 0.15 + 0.08 x sqrt(2) < 0.27 IOD of ``mouth`` (tests/test_placement.py).
FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("hand", orient="fingers", size_iod=(2.3, 3.0), poses=(
            Pose("mouth", 0.35, (("below", 0.5), ("side", 0.5))),
            Pose("left_cheek", 0.15, (("outside", 1.0),), (0.1, 0.4)),
            Pose("right_cheek", 0.15, (("outside", 1.0),), (0.1, 0.4)),
            Pose("chin", 0.2, (("below", 1.0),), (0.3, 0.6)),
            Pose("left_eye", 0.075, (("outside", 0.6), ("below", 0.4)), (0.1, 0.3)),
            Pose("right_eye", 0.075, (("outside", 0.6), ("below", 0.4)), (0.1, 0.3)),
        )),
        Family("drink", size_iod=(0.9, 1.5), poses=(
            Pose("mouth", 0.8, (("below", 0.7), ("side", 0.3)), tilt_deg=(-25.0, 25.0)),
            Pose("chin", 0.2, (("below", 1.0),), (0.1, 0.4), (-15.0, 15.0)),
        )),
        Family("food", size_iod=(0.7, 1.4), poses=(
            Pose("mouth", 0.85, (("below", 0.5), ("side", 0.5)), tilt_deg=(-40.0, 40.0)),
            Pose("chin", 0.15, (("below", 1.0),), (0.1, 0.4), (-30.0, 30.0)),
        )),
        Family("utensil", orient="long_axis", size_iod=(1.2, 2.0), poses=(
            Pose("mouth", 1.0, (("below", 0.4), ("side", 0.6))),
        )),
        Family("phone", size_iod=(1.0, 1.6), poses=(
            Pose("mouth", 0.5, _MOUTH_ENTRY, tilt_deg=(-30.0, 30.0)),
            Pose("chin", 0.5, _MOUTH_ENTRY, (0.1, 0.4), (-30.0, 30.0)),
        )),
        Family("microphone", orient="long_axis", size_iod=(1.2, 2.0), poses=(
            Pose("mouth", 0.6, (("below", 0.7), ("side", 0.3)), tilt_deg=(-25.0, 25.0)),
            Pose("chin", 0.4, (("below", 1.0),), (0.1, 0.4), (-25.0, 25.0)),
        )),
        Family("eyewear", orient="worn", size_iod=(2.0, 2.4), jitter_iod=0.03, poses=(
            Pose("eyes", 1.0, (("front", 1.0),), (0.0, 0.0), (-3.0, 3.0)),
        )),
        Family("face_mask", orient="worn", size_iod=(2.0, 2.5), jitter_iod=0.03, worn_scale=(0.95, 1.1), poses=(
            Pose("mouth", 1.0, (("front", 1.0),), (0.0, 0.0), (-3.0, 3.0)),
        )),
        Family("hat", size_iod=(2.5, 3.5), jitter_iod=0.05, poses=(
            Pose("brow", 1.0, (("above", 1.0),), (0.5, 0.9), (-10.0, 10.0)),
        )),
        Family("hair", orient="worn", size_iod=(2.0, 2.6), jitter_iod=0.04, worn_scale=(0.9, 1.1), poses=(
            Pose("brow", 1.0, (("front", 1.0),), (0.0, 0.0), (-6.0, 6.0)),
        )),
        Family("other", size_iod=(0.8, 1.8), poses=(
            Pose("mouth", 0.3, _MOUTH_ENTRY, tilt_deg=(-30.0, 30.0)),
            Pose("left_cheek", 0.15, (("outside", 1.0),), (0.0, 0.3), (-30.0, 30.0)),
            Pose("right_cheek", 0.15, (("outside", 1.0),), (0.0, 0.3), (-30.0, 30.0)),
            Pose("chin", 0.2, (("below", 1.0),), (0.1, 0.4), (-30.0, 30.0)),
            Pose("left_eye", 0.1, (("outside", 1.0),), (0.0, 0.2), (-30.0, 30.0)),
            Pose("right_eye", 0.1, (("outside", 1.0),), (0.0, 0.2), (-30.0, 30.0)),
        )),
    )
}  # fmt: skip
#: COCO category names (and names a cut-out folder may use) -> family; anything else is ``other``.
CATEGORY_FAMILY: dict[str, str] = {
    **dict.fromkeys(("cup", "wine glass", "bottle", "bowl"), "drink"),
    **dict.fromkeys(
        ("banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake"), "food"
    ),  # fmt: skip
    **dict.fromkeys(("spoon", "fork", "knife", "toothbrush"), "utensil"),
    **dict.fromkeys(("cell phone", "remote"), "phone"),
    **dict.fromkeys(("microphone", "mic"), "microphone"),
    **dict.fromkeys(("glasses", "eyeglasses", "sunglasses", "eyewear"), "eyewear"),
    **dict.fromkeys(("mask", "face mask", "face-mask"), "face_mask"),
    **dict.fromkeys(("hat", "cap", "helmet"), "hat"),
}
#: Occluder kinds whose family does not depend on a category.
KIND_FAMILY = {"hand": "hand", "eyewear": "eyewear", "face-mask": "face_mask", "hair": "hair"}


def family_of(kind: str, draw_params: dict[str, Any]) -> str:
    """The family of an occluder of ``kind`` drawn with ``draw_params``: its ``category`` (COCO objects), else the
    start of its ``file`` name (a cut-out folder), else ``other``."""
    if kind in KIND_FAMILY:
        return KIND_FAMILY[kind]
    category = str(draw_params.get("category", "")).strip().lower()
    if category in CATEGORY_FAMILY:
        return CATEGORY_FAMILY[category]
    # Your own cut-outs (rgba-folder) name their category in the file name: "microphone_03.png", "hat-2.png".
    stem = str(draw_params.get("file", "")).rsplit("/", 1)[-1].lower().replace("_", " ").replace("-", " ")
    for name in sorted(CATEGORY_FAMILY, key=len, reverse=True):
        if stem.startswith(name):
            return CATEGORY_FAMILY[name]
    return "other"


@dataclass(frozen=True)
class FaceFrame:
    """The face's frame from its landmarks (see the module docstring): ``anchors`` name -> (x, y) pixels."""

    iod_px: float
    roll_deg: float
    u: tuple[float, float]
    d: tuple[float, float]
    anchors: dict[str, tuple[float, float]]


def face_frame(landmarks: np.ndarray | None) -> FaceFrame | None:
    """The frame of a face with landmarks float32 (K, 2) (:data:`~occgen.core.labels.LANDMARK_NAMES` order);
    None when either eye is missing (NaN) or the eyes coincide."""
    if landmarks is None or landmarks.shape != (len(LANDMARK_NAMES), 2):
        return None
    points = landmarks.astype(np.float64)
    left, right = points[_AT["left_eye"]], points[_AT["right_eye"]]
    span = left - right
    if not np.isfinite(span).all() or float(np.hypot(*span)) < 1.0:
        return None
    iod = float(np.hypot(*span))
    u = span / iod
    d = np.array([-u[1], u[0]])
    origin = (left + right) / 2

    def have(name: str, fallback: np.ndarray) -> np.ndarray:
        point = points[_AT[name]]
        return point if np.isfinite(point).all() else fallback

    mouth = have("mouth_center", origin + 1.1 * iod * d)
    brows = (points[_AT["left_brow"]] + points[_AT["right_brow"]]) / 2
    anchors = {
        "mouth": mouth, "chin": have("chin", mouth + 0.7 * iod * d), "eyes": origin, "left_eye": left,
        "right_eye": right, "left_cheek": origin + 0.75 * iod * (u + d), "right_cheek": origin + 0.75 * iod * (d - u),
        "brow": brows if np.isfinite(brows).all() else origin - 0.35 * iod * d,
    }  # fmt: skip
    return FaceFrame(
        iod_px=iod, roll_deg=math.degrees(math.atan2(u[1], u[0])), u=(float(u[0]), float(u[1])),
        d=(float(d[0]), float(d[1])), anchors={k: (float(v[0]), float(v[1])) for k, v in anchors.items()},
    )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class AnchoredPlacement:
    """Every random choice of one anchored placement, plus the face frame it was drawn for (JSON-ready)."""

    family: str
    anchor: str
    entry: str
    target_xy: tuple[float, float]  # where the occluder's own anchor point lands (image pixels)
    occluder_anchor_xy: tuple[float, float]  # that point in the cut-out's pixels
    fit_scale: float
    rotation_deg: float
    iod_px: float
    roll_deg: float
    size_iod: float  # longest side in IOD units; for a worn occluder, the scale relative to I / iod_px
    tilt_deg: float


def _weighted(rng: np.random.Generator, weights: list[float]) -> int:
    total = float(sum(weights))
    return int(np.searchsorted(np.cumsum(weights) / total, rng.random() * 0.999999999, side="right"))


def alpha_axes(alpha: np.ndarray) -> tuple[tuple[float, float], float]:
    """The alpha-weighted centroid ``(x, y)`` of a cut-out's alpha (float32 (h, w)) and its principal axis
    angle in degrees (image coordinates, the long axis; 0 for a round blob)."""
    return axes_of(cv2.moments(alpha.astype(np.float32)), alpha.shape)


def axes_of(moments: dict[str, float], shape: tuple[int, ...]) -> tuple[tuple[float, float], float]:
    """:func:`alpha_axes` from the alpha's ``cv2.moments`` (``shape``: the alpha's, for an empty one's centre)."""
    if moments["m00"] <= 0:
        return ((shape[1] - 1) / 2, (shape[0] - 1) / 2), 0.0
    centre = (moments["m10"] / moments["m00"], moments["m01"] / moments["m00"])
    angle = 0.5 * math.degrees(math.atan2(2 * moments["mu11"], moments["mu20"] - moments["mu02"]))
    return centre, angle


#: |skewness| of a cut-out's alpha along its long axis above which one end counts as its head (the wider end: a
#: spoon's bowl, a fork's tines, a microphone's ball); below it the end is drawn at random.
HEAD_SKEWNESS = 0.25


def head_end(moments: dict[str, float], axis_deg: float) -> float:
    """Which end of a long cut-out is its head, the wider end, from its alpha's ``cv2.moments`` and long-axis
    angle (:func:`axes_of`): +1 the end the axis points to, -1 the other, 0 when neither stands out. The wider end
    holds the mass near the centroid and the narrow handle the long tail, so the alpha-weighted skewness of the
    positions along the axis (from the central moments of orders 2 and 3) points away from the head."""
    if moments.get("m00", 0.0) <= 0:
        return 0.0
    c, s = math.cos(math.radians(axis_deg)), math.sin(math.radians(axis_deg))
    variance = (c * c * moments["mu20"] + 2 * c * s * moments["mu11"] + s * s * moments["mu02"]) / moments["m00"]
    if variance <= 0:
        return 0.0
    third = (c**3 * moments["mu30"] + 3 * c * c * s * moments["mu21"] + 3 * c * s * s * moments["mu12"]
             + s**3 * moments["mu03"]) / moments["m00"]  # fmt: skip
    skewness = third / variance**1.5
    return 0.0 if abs(skewness) < HEAD_SKEWNESS else -math.copysign(1.0, skewness)


def sample_anchored(
    *,
    rng: np.random.Generator,
    frame: FaceFrame,
    family: str,
    alpha: np.ndarray,
    draw_params: dict[str, Any],
) -> AnchoredPlacement:
    """Draw one anchored placement of a cut-out with ``alpha`` (float32 (h, w)) of ``family`` on the face
    ``frame``; ``draw_params`` are the source's (``finger_angle_deg`` for hands, ``iod_px`` and ``anchor_xy``
    for worn occluders)."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown occluder family {family!r}; valid: {', '.join(FAMILIES)}")
    spec = FAMILIES[family]
    pose = spec.poses[_weighted(rng, [p.weight for p in spec.poses])]
    entry = pose.entries[_weighted(rng, [weight for _, weight in pose.entries])][0]
    anchor = np.array(frame.anchors[pose.anchor])
    u, d = np.array(frame.u), np.array(frame.d)
    side = 1.0 if rng.random() < 0.5 else -1.0
    if entry == "outside":  # away from the face's axis, on the anchor's own side
        side = 1.0 if float((anchor - np.array(frame.anchors["eyes"])) @ u) >= 0 else -1.0
    direction = {"below": d, "above": -d, "side": side * u, "outside": side * u, "front": np.zeros(2)}[entry]
    reach = float(rng.uniform(*pose.reach_iod))
    jitter = rng.uniform(-spec.jitter_iod, spec.jitter_iod, 2)
    target = anchor + frame.iod_px * (reach * direction + jitter[0] * u + jitter[1] * d)
    tilt = float(rng.uniform(*pose.tilt_deg))
    flip = bool(rng.random() < 0.5)
    height, width = alpha.shape
    worn = spec.orient == "worn" and "iod_px" in draw_params and "anchor_xy" in draw_params
    if worn:
        size = float(rng.uniform(*spec.worn_scale))
        fit_scale = frame.iod_px / float(draw_params["iod_px"]) * size
        own_anchor = tuple(float(v) for v in draw_params["anchor_xy"])
        axis_deg, moments = 0.0, {}
    else:
        size = float(rng.uniform(*spec.size_iod))
        fit_scale = size * frame.iod_px / max(height, width)
        moments = cv2.moments(alpha.astype(np.float32))  # one pass: the centroid, the axis and the head end
        own_anchor, axis_deg = axes_of(moments, alpha.shape)
    entry_deg = math.degrees(math.atan2(direction[1], direction[0])) if entry != "front" else frame.roll_deg + 90
    if spec.orient == "fingers":  # fingers point from the entry side toward the anchor
        finger = float(draw_params.get("finger_angle_deg", -90.0))
        rotation = entry_deg + 180.0 - finger + tilt
    elif spec.orient == "long_axis":  # the axis along the entry direction, the head (when known) toward the face
        head = head_end(moments, axis_deg)
        flip = flip if head == 0.0 else head > 0  # unflipped, the axis points out along the entry direction
        rotation = entry_deg - axis_deg + (180.0 if flip else 0.0) + tilt
    else:
        rotation = frame.roll_deg + tilt
    return AnchoredPlacement(
        family=family, anchor=pose.anchor, entry=entry, target_xy=(float(target[0]), float(target[1])),
        occluder_anchor_xy=(float(own_anchor[0]), float(own_anchor[1])), fit_scale=float(fit_scale),
        rotation_deg=(rotation + 180.0) % 360.0 - 180.0, iod_px=frame.iod_px, roll_deg=frame.roll_deg,
        size_iod=size, tilt_deg=tilt,
    )  # fmt: skip


def apply_anchored(
    params: CompositeParams, placement: AnchoredPlacement, occluder_shape: tuple[int, int]
) -> CompositeParams:
    """``params`` with the placement's scale (the augmentation scale set to 1), rotation and centre: the
    centre is chosen so that the cut-out's anchor point (``occluder_shape`` (h, w) pixels) lands on
    ``target_xy`` under the compositor's own matrix (:func:`occgen.compose.occluder_matrix`, shear included)."""
    placed = replace(params, scale=1.0, fit_scale=placement.fit_scale, rotation_deg=placement.rotation_deg,
                     center_xy=(0.0, 0.0))  # fmt: skip
    matrix = occluder_matrix(occluder_shape, placed)
    own = np.array([*placement.occluder_anchor_xy, 1.0])
    moved = matrix @ own  # where the anchor point lands with the centre at the origin
    target = np.array(placement.target_xy)
    centre = target - moved
    return replace(placed, center_xy=(float(centre[0]), float(centre[1])))


def face_centre(face_mask: np.ndarray) -> tuple[float, float]:
    """Centre ``(x, y)`` of the face box (the central half of the image when the mask is empty)."""
    x0, y0, x1, y1 = face_box(face_mask)
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0


def toward_face_rotation_deg(
    finger_angle_deg: float, occluder_xy: tuple[float, float], face_xy: tuple[float, float], jitter_deg: float
) -> float:
    """The compositor rotation that turns fingers at ``finger_angle_deg`` to point from ``occluder_xy``
    toward ``face_xy``, plus ``jitter_deg``. When the two centres coincide the fingers point up.

    The compositor rotates a direction at angle a to a + rotation (image coordinates, y down).
    """
    dx, dy = face_xy[0] - occluder_xy[0], face_xy[1] - occluder_xy[1]
    target = math.degrees(math.atan2(dy, dx)) if math.hypot(dx, dy) > 1e-3 else -90.0
    return (target - finger_angle_deg + jitter_deg + 180.0) % 360.0 - 180.0


def worn_edges(params: CompositeParams) -> CompositeParams:
    """Procedural eyewear and masks have exact edges: no erosion (it would delete thin frames), the blur at most
    3 px (a matted cut-out's fringe needs the compositor's defaults, a drawn one does not)."""
    return replace(params, alpha_erode_px=0, alpha_blur_px=min(params.alpha_blur_px, 3))


#: How a see-through occluder's lenses are labelled (``natocc.eyewear_label``). ``occluder``: the NatOcc paper's
#: Table 1 counts glasses as occluders, transparent ones too, so the whole lens leaves the visible face;
#: ``face``: a lens below ``composite.footprint_threshold`` alpha stays face (RealOcc's reading); ``soft``: as
#: ``face`` in the 0/1 ``face_mask``, and the lens alpha kept in ``face_mask_soft`` (1 - alpha under the lens;
#: needs ``--labels soft-face``). The occluder mask keeps the lens's true blend alpha under every policy.
EYEWEAR_LABELS = ("occluder", "face", "soft")


def see_through_params(params: CompositeParams, draw_params: dict[str, Any], eyewear_label: str) -> CompositeParams:
    """``params`` for an occluder whose draw recorded ``lens_alpha_min`` (procedural eyewear): under the
    ``occluder`` policy the footprint threshold drops to half the lens alpha, so the lenses count as occluder
    while the blend (and ``occluder_mask``) still shows the face through them. Other occluders: unchanged."""
    lens_alpha = draw_params.get("lens_alpha_min")
    if lens_alpha is None or eyewear_label != "occluder":
        return params
    return replace(params, footprint_threshold=min(params.footprint_threshold, 0.5 * float(lens_alpha)))


def place(
    *,
    rng: np.random.Generator,
    mode: str,
    params: CompositeParams,
    alpha: np.ndarray,
    kind: str,
    draw_params: dict[str, Any],
    frame: FaceFrame | None,
) -> tuple[CompositeParams, dict[str, Any] | None]:
    """The hook a recipe calls after ``sample_composite``: ``params`` unchanged and no metadata for
    ``random``; for ``anchored`` the anchored params and their record, or, on a face without eye landmarks,
    ``params`` unchanged and a record that says the sample fell back to random placement."""
    if mode == "random":
        return params, None
    if mode != "anchored":
        raise ConfigError(f"placement must be one of {', '.join(PLACEMENTS)}, got {mode!r}")
    if frame is None:
        reason = "no eye landmarks (a face without a parsing map, or its eyes hidden in it)"
        return params, {"mode": "random", "requested": "anchored", "reason": reason}
    family = family_of(kind, draw_params)
    placement = sample_anchored(rng=rng, frame=frame, family=family, alpha=alpha, draw_params=draw_params)
    placed = apply_anchored(params, placement, alpha.shape)
    if FAMILIES[family].orient == "worn" and "iod_px" in draw_params:
        placed = worn_edges(placed)
    record = {"mode": "anchored", **to_plain(placement)}
    return placed, record
