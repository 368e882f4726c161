"""Hand matting: pure functions from a photo on a plain background to an RGBA cut-out.

Data flow (called per file by :mod:`occgen.prep.hands.stage`):
1. :func:`estimate_background` - the background colour (median of the image border, in Lab);
2. :func:`auto_trimap` - colour distance to it in Lab (lightness optionally down-weighted against
   cast shadows) and chroma distance, thresholded, cleaned with morphology; rings and bracelets that
   cut the hand into parts bridged (:func:`bridge_parts`); the silhouette filled
   (:func:`fill_silhouette`: holes, also those open to the backdrop only through narrow necks or through
   the forearm at the image border, become foreground), with an unknown band around the outline; or
   :func:`mask_trimap` from a user's own hand mask;
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
    # Over-exposed palms (issue 30) are nearly the backdrop's white in L* but keep their skin tint, while a
    # cast shadow is grey: a pixel whose chroma (a*, b*) alone differs from the backdrop's by more than this
    # is hand too. On 200 real 11k Hands photos palm chroma was 15-25, shadows under 10.
    foreground_chroma_delta_e: float = 12.0
    # Unknown band on each side of the outline, as a fraction of the hand's bounding-box diagonal.
    unknown_band_frac: float = 0.006
    min_unknown_band_px: int = 2
    # Components smaller than this fraction of the largest are dropped (specks, dust, shadows).
    min_component_frac: float = 0.02
    # A bright palm on the white backdrop falls below foreground_delta_e and reaches the backdrop only
    # through narrow necks (a pale palm edge, the wrist at the image border). Backdrop-coloured regions
    # that hold a disk of this radius (x the hand box diagonal) but that no such disk can reach from the
    # backdrop are holes: they become foreground. Real gaps between fingers open wider than 2 radii. 0 fills
    # only fully enclosed holes (the behaviour before issue 30). Measured on 200 real 11k Hands photos
    # with the other issue-30 changes: docs/hands.md.
    hole_neck_frac: float = 0.01
    # A ring, a bracelet's links: a band that differs from the backdrop (above background_delta_e) but not
    # by foreground_delta_e, narrower than 2x this fraction of the diagonal, that joins two separate hand
    # parts (a fingertip cut off by the ring) is hand. Bands that join a part to itself (a cast shadow
    # between two fingers of one hand) and backdrop-coloured pixels are never bridged. 0 bridges nothing.
    bridge_frac: float = 0.02
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
        if self.foreground_chroma_delta_e <= 0.0:
            raise ConfigError(
                f"hands.matting.foreground_chroma_delta_e must be > 0, got {self.foreground_chroma_delta_e}"
            )
        if not 0.0 < self.lightness_weight <= 1.0:
            raise ConfigError(f"hands.matting.lightness_weight must be in (0, 1], got {self.lightness_weight}")
        if self.solver not in SOLVERS:
            raise ConfigError(f"hands.matting.solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}")
        if self.unknown_band_frac < 0 or self.min_unknown_band_px < 1:
            raise ConfigError("hands.matting: unknown_band_frac must be >= 0 and min_unknown_band_px >= 1")
        for name, value in (("hole_neck_frac", self.hole_neck_frac), ("bridge_frac", self.bridge_frac)):
            if not 0.0 <= value < 0.5:
                raise ConfigError(f"hands.matting.{name} must be in [0, 0.5), got {value}")
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
    """Open, keep the components at least ``min_component_frac`` of the largest, fill enclosed holes."""
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros_like(mask)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, bool)
    keep[1:] = areas >= max(areas.max() * min_component_frac, 1)
    return fill_enclosed(keep[labels].astype(np.uint8))


def fill_enclosed(mask: np.ndarray) -> np.ndarray:
    """``mask`` (``uint8 (H, W)`` in {0, 1}) with every hole filled: background not connected to the
    image's (padded) border becomes foreground."""
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    padded[flood == 0] = 1
    return padded[1:-1, 1:-1]


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def bridge_parts(mask: np.ndarray, differs: np.ndarray, radius_px: int) -> np.ndarray:
    """``mask`` (``uint8 (H, W)`` in {0, 1}) with the bands that join two of its separate parts set.

    A band is a connected region of pixels where ``differs`` (``bool (H, W)``: unlike the backdrop),
    within ``radius_px`` of ``mask``, that holds pixels a closing with a disk of ``radius_px`` adds (so it
    is narrower than the disk) and touches two or more parts (8-connected) of ``mask``; the whole band is
    set, up to the hand's outline (a ring's ends, which the closing rounds off, included).
    """
    count, parts = cv2.connectedComponents(mask, connectivity=8)
    if count <= 2:
        return mask
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _disk(radius_px))
    near = cv2.dilate(mask, _disk(radius_px)) > 0
    bands = (near & (mask == 0) & differs).astype(np.uint8)
    band_count, band_labels = cv2.connectedComponents(bands, connectivity=8)
    if band_count <= 1:
        return mask
    closes = np.zeros(band_count, bool)
    closes[np.unique(band_labels[(closed > 0) & (mask == 0) & (band_labels > 0)])] = True
    # (band, part) pairs of 8-neighbours; a band that meets two or more parts joins them.
    padded_parts = np.pad(parts, 1)
    pairs = []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            shifted = padded_parts[1 + dy : padded_parts.shape[0] - 1 + dy, 1 + dx : padded_parts.shape[1] - 1 + dx]
            touch = (band_labels > 0) & (shifted > 0)
            pairs.append(band_labels[touch].astype(np.int64) * count + shifted[touch])
    unique = np.unique(np.concatenate(pairs))
    joins = (np.bincount(unique // count, minlength=band_count) >= 2) & closes
    joins[0] = False
    bridged = mask.copy()
    bridged[joins[band_labels]] = 1
    return bridged


def _seal_wrist(mask: np.ndarray) -> np.ndarray:
    """``mask`` with the border line between the outermost contacts on its most touched side set."""
    sides = {"top": mask[0], "bottom": mask[-1], "left": mask[:, 0], "right": mask[:, -1]}
    side = max(sides, key=lambda name: int(sides[name].sum()))
    touched = np.nonzero(sides[side])[0]
    sealed = mask.copy()
    if touched.size < 2:
        return sealed
    span = slice(int(touched[0]), int(touched[-1]) + 1)
    if side in ("top", "bottom"):
        sealed[0 if side == "top" else -1, span] = 1
    else:
        sealed[span, 0 if side == "left" else -1] = 1
    return sealed


def fill_silhouette(mask: np.ndarray, neck_px: int) -> np.ndarray:
    """The hand's silhouette without holes, ``uint8 (H, W)`` in {0, 1}, from a hand mask that has some.

    The forearm leaves the photo on one side (the side the mask touches most): the border between its
    outermost contacts there counts as hand, so a pale patch in the wrist reaching the border is a hole
    too. Elsewhere outside the image counts as backdrop. A hole is background that holds a disk of radius ``neck_px``
    that no such disk can reach from the backdrop (it opens to the backdrop only through necks narrower
    than ``2 * neck_px``, or not at all); the hole, with its necks, becomes foreground. A gap between
    spread fingers opens wider than the disk and stays background; so do narrow places (a finger crotch,
    a slit between fingers held together) that hold no such disk. Enclosed holes are filled whatever
    their size. ``neck_px`` 0 fills only the enclosed holes.
    """
    check_mask(mask, "hand mask")
    mask = fill_enclosed(_seal_wrist(mask))
    if neck_px < 1:
        return mask
    ring = neck_px + 2
    outside = np.pad(1 - mask, ring, constant_values=1)
    # Union of the disks that fit in the background; the ones joined to the ring are the open backdrop.
    opened = cv2.morphologyEx(outside, cv2.MORPH_OPEN, _disk(neck_px))
    reached = opened.copy()
    cv2.floodFill(reached, None, (0, 0), 2)
    seeds = opened.astype(bool) & (reached != 2)  # disks that fit where no disk from the backdrop comes
    if not seeds.any():
        return mask
    rest = (outside.astype(bool) & (reached != 2)).astype(np.uint8)
    count, labels = cv2.connectedComponents(rest, connectivity=4)
    holes = np.zeros(count, bool)
    holes[np.unique(labels[seeds])] = True
    holes[0] = False
    filled = mask.copy()
    filled[holes[labels][ring:-ring, ring:-ring]] = 1
    return filled


def _band_px(mask: np.ndarray, config: MattingConfig) -> int:
    ys, xs = np.nonzero(mask)
    diagonal = float(np.hypot(np.ptp(xs) + 1, np.ptp(ys) + 1))
    return max(config.min_unknown_band_px, round(config.unknown_band_frac * diagonal))


def _diagonal_px(mask: np.ndarray, frac: float) -> int:
    """``frac`` of the diagonal of the mask's bounding box, in whole pixels."""
    ys, xs = np.nonzero(mask)
    return round(frac * float(np.hypot(np.ptp(xs) + 1, np.ptp(ys) + 1)))


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
    difference = to_lab(image) - background
    distance = np.linalg.norm(difference * weights, axis=2)
    chroma = np.hypot(difference[:, :, 1], difference[:, :, 2])
    hand = (distance > config.foreground_delta_e) | (chroma > config.foreground_chroma_delta_e)
    strong = _clean(hand, config.min_component_frac)
    if not strong.any():
        raise EmptyOccluderError(
            f"no foreground: no pixel differs from the background by more than Delta E {config.foreground_delta_e}"
        )
    bridge_px = _diagonal_px(strong, config.bridge_frac)
    if bridge_px >= 1:  # rings, bracelets (see MattingConfig.bridge_frac)
        strong = bridge_parts(strong, distance > config.background_delta_e, bridge_px)
    strong = fill_silhouette(strong, _diagonal_px(strong, config.hole_neck_frac))
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
