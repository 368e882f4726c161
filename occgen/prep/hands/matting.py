"""Hand matting: pure functions from a photo on a plain background to an RGBA cut-out.

Data flow (called per file by :mod:`occgen.prep.hands.stage`):
1. :func:`estimate_background` - the background colour (median of the image border, in Lab);
2. :func:`auto_trimap` - colour distance to it in Lab (lightness optionally down-weighted against
   cast shadows), thresholded twice, cleaned with morphology, with an unknown band around the
   outline; or :func:`mask_trimap` from a user's own hand mask;
3. :func:`matte` - alpha with pymatting's closed-form solver on the hand's bounding box, then
   pymatting's multilevel foreground estimate, so that no background colour (white halo) survives in
   the cut-out's colours.

pymatting compiles with numba on its first import (tens of seconds in a fresh environment, then about
1 s from numba's cache), so it is imported only inside :func:`matte`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from occgen.core.arrays import check_image, check_mask, check_same_size
from occgen.core.errors import ConfigError, EmptyOccluderError
from occgen.core.geometry import box_slices, grow_box, mask_bbox

#: Trimap values, pymatting's convention (float trimap: 0 background, 1 foreground, else unknown).
BACKGROUND, UNKNOWN, FOREGROUND = 0, 128, 255
SOLVERS = ("cf", "lkm")


@dataclass(frozen=True, kw_only=True)
class MattingConfig:
    """Matting parameters (``params.yaml`` section ``hands``, key ``matting``)."""

    # Lab distance to the background: below -> background, above -> foreground. Lightness differences
    # count ``lightness_weight`` times. Below 1 hard cast shadows (which change L*, hardly a*/b*) stay
    # background, but pale skin on a white backdrop loses its L* contrast: on the drawn fixtures 0.5 lost
    # part of a pale hand (alpha error 0.11) while 1.0 matted backdrops with a 20 % shadow to 0.001.
    background_delta_e: float = 10.0
    foreground_delta_e: float = 25.0
    lightness_weight: float = 1.0
    # Unknown band on each side of the outline, as a fraction of the hand's bounding-box diagonal.
    unknown_band_frac: float = 0.006
    min_unknown_band_px: int = 2
    # Components smaller than this fraction of the largest are dropped (specks, dust, shadows).
    min_component_frac: float = 0.02
    border_px: int = 8  # image border used to estimate the background colour
    solver: str = "cf"  # cf: closed form (Levin et al.); lkm: large-kernel matting
    max_side_px: int = 1600  # photos larger than this are matted at this size (long side)
    margin_px: int = 16  # context kept around the hand's box for the solver

    def __post_init__(self) -> None:
        if not 0.0 < self.background_delta_e < self.foreground_delta_e:
            raise ConfigError(
                "hands.matting: need 0 < background_delta_e < foreground_delta_e, got "
                f"{self.background_delta_e} and {self.foreground_delta_e}"
            )
        if not 0.0 < self.lightness_weight <= 1.0:
            raise ConfigError(f"hands.matting.lightness_weight must be in (0, 1], got {self.lightness_weight}")
        if self.solver not in SOLVERS:
            raise ConfigError(f"hands.matting.solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}")
        if self.unknown_band_frac < 0 or self.min_unknown_band_px < 1:
            raise ConfigError("hands.matting: unknown_band_frac must be >= 0 and min_unknown_band_px >= 1")
        if not 0.0 <= self.min_component_frac < 1.0:
            raise ConfigError(f"hands.matting.min_component_frac must be in [0, 1), got {self.min_component_frac}")
        if self.border_px < 1 or self.max_side_px < 64 or self.margin_px < 0:
            raise ConfigError("hands.matting: border_px >= 1, max_side_px >= 64 and margin_px >= 0 are required")


def to_lab(image: np.ndarray) -> np.ndarray:
    """CIE Lab (L in [0, 100], a/b about [-128, 127]) as ``float32 (H, W, 3)``."""
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def estimate_background(image: np.ndarray, border_px: int) -> np.ndarray:
    """The background colour in Lab: the per-channel median of the image's outer ``border_px`` frame."""
    check_image(image)
    lab = to_lab(image)
    frame = np.concatenate(
        [
            lab[:border_px].reshape(-1, 3), lab[-border_px:].reshape(-1, 3),
            lab[:, :border_px].reshape(-1, 3), lab[:, -border_px:].reshape(-1, 3),
        ]
    )  # fmt: skip
    return np.median(frame, axis=0).astype(np.float32)


def _clean(mask: np.ndarray, min_component_frac: float) -> np.ndarray:
    """Open, keep the components at least ``min_component_frac`` of the largest, fill holes."""
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros_like(mask)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, bool)
    keep[1:] = areas >= max(areas.max() * min_component_frac, 1)
    mask = keep[labels].astype(np.uint8)
    # Fill holes: background not connected to the (padded) border becomes foreground.
    padded = np.pad(mask, 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    holes = flood == 0
    padded[holes] = 1
    return padded[1:-1, 1:-1]


def _band_px(mask: np.ndarray, config: MattingConfig) -> int:
    ys, xs = np.nonzero(mask)
    diagonal = float(np.hypot(np.ptp(xs) + 1, np.ptp(ys) + 1))
    return max(config.min_unknown_band_px, round(config.unknown_band_frac * diagonal))


def _trimap_from_mask(mask: np.ndarray, band_px: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band_px + 1, 2 * band_px + 1))
    sure_fg = cv2.erode(mask, kernel, borderType=cv2.BORDER_REPLICATE)
    maybe = cv2.dilate(mask, kernel)
    trimap = np.full(mask.shape, UNKNOWN, np.uint8)
    trimap[maybe == 0] = BACKGROUND
    trimap[sure_fg > 0] = FOREGROUND
    return trimap


def auto_trimap(image: np.ndarray, config: MattingConfig) -> np.ndarray:
    """``uint8 (H, W)`` trimap (0 / 128 / 255) from the colour distance to the background in Lab.

    Pixels between the two distance thresholds and a band around the cleaned outline are unknown.
    Raises :class:`EmptyOccluderError` if nothing differs from the background.
    """
    check_image(image)
    background = estimate_background(image, config.border_px)
    weights = np.array([config.lightness_weight, 1.0, 1.0], np.float32)
    distance = np.linalg.norm((to_lab(image) - background) * weights, axis=2)
    strong = _clean(distance > config.foreground_delta_e, config.min_component_frac)
    if not strong.any():
        raise EmptyOccluderError(
            f"no foreground: no pixel differs from the background by more than Delta E {config.foreground_delta_e}"
        )
    trimap = _trimap_from_mask(strong, _band_px(strong, config))
    # Weakly different pixels next to the hand (soft shadows, fine edges) are left to the solver.
    weak = (distance > config.background_delta_e) & (trimap == BACKGROUND)
    near = cv2.dilate(strong, np.ones((3, 3), np.uint8), iterations=2 * _band_px(strong, config)) > 0
    trimap[weak & near] = UNKNOWN
    return trimap


def mask_trimap(mask: np.ndarray, config: MattingConfig) -> np.ndarray:
    """Trimap from a user's own binary hand mask (``uint8 (H, W)`` in {0, 1}): an unknown band around it."""
    check_mask(mask, "hand mask")
    if not mask.any():
        raise EmptyOccluderError("the hand mask is empty")
    return _trimap_from_mask(mask, _band_px(mask, config))


def _box(trimap: np.ndarray, margin: int) -> tuple[slice, slice]:
    found = mask_bbox(trimap != BACKGROUND)
    if found is None:
        raise EmptyOccluderError("the trimap is all background: no hand to matte")
    return box_slices(grow_box(found, margin, trimap.shape))


@dataclass(frozen=True)
class Matte:
    """A matted photo: ``foreground`` uint8 (H, W, 3) (background colours removed), ``alpha`` float32
    (H, W) in [0, 1], the ``trimap`` used and the share of unknown pixels in the solved box."""

    foreground: np.ndarray
    alpha: np.ndarray
    trimap: np.ndarray
    unknown_frac: float


def matte(image: np.ndarray, trimap: np.ndarray, config: MattingConfig) -> Matte:
    """Solve alpha and the foreground colours inside the trimap's box (plus ``margin_px``).

    Outside the box alpha is 0 and the foreground is the image itself (never shown).
    """
    import pymatting  # deferred: numba compilation on first import (see module docstring)

    check_image(image)
    check_same_size(image, trimap, "image", "trimap")
    if not (trimap == FOREGROUND).any():
        raise EmptyOccluderError("the trimap has no foreground pixel")
    window = _box(trimap, config.margin_px)
    crop = image[window].astype(np.float64) / 255.0
    tri = trimap[window].astype(np.float64) / 255.0
    unknown_frac = float(np.mean(trimap[window] == UNKNOWN))
    if config.solver == "cf":
        alpha = pymatting.estimate_alpha_cf(crop, tri)
    else:
        alpha = pymatting.estimate_alpha_lkm(crop, tri)
    alpha = np.clip(alpha, 0.0, 1.0)
    foreground = pymatting.estimate_foreground_ml(crop, alpha)
    full_alpha = np.zeros(trimap.shape, np.float32)
    full_alpha[window] = alpha
    full_fg = image.copy()
    full_fg[window] = np.clip(foreground * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Matte(full_fg, full_alpha, trimap, unknown_frac)
