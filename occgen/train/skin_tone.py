"""Scores per skin tone: the Individual Typology Angle (ITA) of an evaluation image's visible face.

Why (docs/benchmarks-real.md, "Per skin tone"): on unoccluded LFW test faces, the largest losses of a model
trained with NatOcc against the clean-faces model were on dark-skinned faces, which a pooled IoU over 100 faces
hides. ``evaluate`` so reports its scores per ITA group beside the per-face-size ones.

ITA = arctan((L* - 50) / b*) in degrees, from CIELAB (Chardon, Cretois and Hourseau, *Skin colour typology and
suntanning pathways*, Int. J. Cosmet. Sci. 1991), here of the median L* and b* over the image's ground-truth face
pixels; the groups are Del Bino and Bernerd's (*Variations in skin colour and the biological consequences of
ultraviolet radiation exposure*, Br. J. Dermatol. 2013): very light > 55°, light 41-55°, intermediate 28-41°,
tan 10-28°, brown -30-10°, dark < -30°. On a photograph it measures the pictured skin under that photo's lighting
and white balance, not the person's skin: a proxy for where a model's errors gather, never a label of anyone.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# (lower edge in degrees, name), lightest first; an angle equal to an edge goes to the darker group (very light
# is > 55°, light 41-55° inclusive of 55).
ITA_GROUPS: tuple[tuple[float, str], ...] = (
    (55.0, "very light"),
    (41.0, "light"),
    (28.0, "intermediate"),
    (10.0, "tan"),
    (-30.0, "brown"),
    (-math.inf, "dark"),
)
NO_SKIN = "no face"


def face_ita(image: np.ndarray | None, truth: np.ndarray) -> float:
    """ITA in degrees of the uint8 RGB ``image`` (H, W, 3) over the bool ``truth`` face pixels (median L*, b*);
    NaN without an image or a face pixel. ``atan2`` keeps the angle defined when b* <= 0 (a blue cast: beyond
    +-90°, grouped very light or dark)."""
    if image is None or not truth.any():
        return math.nan
    pixels = image[truth].reshape(-1, 1, 3).astype(np.float32) / 255.0
    lab = cv2.cvtColor(pixels, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    lightness, yellow = float(np.median(lab[:, 0])), float(np.median(lab[:, 2]))
    return math.degrees(math.atan2(lightness - 50.0, yellow))


def skin_tone_group(ita_deg: float) -> str:
    """The ITA group of an angle (:data:`ITA_GROUPS`), or ``"no face"`` for NaN."""
    if math.isnan(ita_deg):
        return NO_SKIN
    return next(name for edge, name in ITA_GROUPS if ita_deg > edge or edge == -math.inf)


def skin_tone_groups() -> tuple[str, ...]:
    """Every group name, lightest first, then ``"no face"`` (the order of ``by_skin_tone`` in a summary)."""
    return (*(name for _, name in ITA_GROUPS), NO_SKIN)
