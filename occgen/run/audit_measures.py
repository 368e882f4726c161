"""Per-sample quality measures of a written sample (``occgen audit``): pure functions of its arrays.

Where it sits: :mod:`occgen.run.audit` reads each sample through the dataset protocol
(:mod:`occgen.store.dataset`) and calls :func:`measure_sample`; nothing here does I/O or mutates its inputs.
What each measure means, and its threshold, is in ``docs/audit.md``.

Arrays (STYLE.md habit 7): ``image`` / ``clean_image`` uint8 (S, S, 3) RGB; ``face_mask`` /
``face_mask_amodal`` uint8 (S, S) {0, 1}; ``occluder_mask`` uint8 (S, S), the occluder's alpha x 255.
Alpha levels (0.5, 0.05, 0.95) are fractions of the sample's peak alpha (:func:`alpha_of`).
A measure that a sample cannot give (no occluder, too few pixels, an array the store does not hold) is None.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from occgen.core.errors import ArrayContractError

#: Alpha levels, as fractions of the sample's peak alpha (its occluder's opacity: a translucent occluder is
#: measured like an opaque one): the silhouette is alpha >= 0.5 (the footprint the labels use, as
#: ``composite.footprint_threshold`` applies to the occluder's own alpha); the soft edge is the band strictly
#: between SOFT_LOW and SOFT_HIGH; the opaque core is alpha >= SOFT_HIGH.
HALF, SOFT_LOW, SOFT_HIGH = 0.5, 0.05, 0.95
#: A measure over a region needs at least this many pixels in it (else None).
MIN_REGION_PX = 16
#: The face "around" the occluder, for the colour distance: visible face within this fraction of the face's
#: size (sqrt of its area before occlusion) of the occluder's silhouette.
RING_FACE_FRAC = 0.1
#: Two colours closer than this CIE76 distance look the same (the usual just-noticeable difference, about 2.3).
JUST_NOTICEABLE_DELTA_E = 2.3
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)


@dataclass(frozen=True)
class SampleMeasures:
    """One sample's measures (None: not measurable for this sample, see each function).

    ``hole_frac``: share of the filled occluder silhouette below alpha 0.5; ``fragment_frac``: share of the
    silhouette outside its largest piece; ``sharpness_ratio``: variance of the
    Laplacian inside the occluder over that on the visible face; ``delta_e``: CIE76 distance of the occluder's mean
    Lab colour to the face around it; ``edge_width_face``: soft-edge width over the face size; ``coverage_frac``:
    share of the face covered; ``invisible_frac``: share of the occluder's footprint that looks like the clean face.
    """

    hole_frac: float | None
    fragment_frac: float | None
    sharpness_ratio: float | None
    delta_e: float | None
    edge_width_face: float | None
    coverage_frac: float | None
    invisible_frac: float | None
    face_px: int | None  # face pixels before occlusion (the face size is its square root)
    occluder_px: int  # pixels of the occluder's silhouette (alpha >= 0.5 of its peak)
    edge_width_px: float | None  # soft-edge width in pixels


def _check(name: str, array: np.ndarray, ndim: int) -> None:
    if array.dtype != np.uint8 or array.ndim != ndim or (ndim == 3 and array.shape[2] != 3):
        shape = "(H, W, 3)" if ndim == 3 else "(H, W)"
        raise ArrayContractError(f"{name}: expected {shape} uint8, got {array.shape} {array.dtype}")


def alpha_of(occluder_mask: np.ndarray) -> np.ndarray:
    """float32 (H, W) alpha in [0, 1] of a uint8 occluder mask (alpha x 255), relative to its peak: divided by
    the mask's maximum (all zeros without an occluder)."""
    _check("occluder_mask", occluder_mask, 2)
    peak = float(occluder_mask.max())
    return occluder_mask.astype(np.float32) / (peak if peak > 0 else 1.0)


def hole_frac(occluder_mask: np.ndarray) -> float | None:
    """Holes in the occluder's silhouette: pixels below alpha 0.5 that the silhouette (alpha >= 0.5) encloses
    (not connected, through 4-neighbours, to the image border), as a share of the filled silhouette. A gap open to
    the outside (between fingers) is not a hole. None when the silhouette has under MIN_REGION_PX pixels."""
    silhouette = alpha_of(occluder_mask) >= HALF
    if np.count_nonzero(silhouette) < MIN_REGION_PX:
        return None
    holes = hole_pixels(occluder_mask)
    return float(np.count_nonzero(holes)) / float(np.count_nonzero(holes | silhouette))


def fragment_frac(occluder_mask: np.ndarray) -> float | None:
    """An occluder in pieces: the share of the silhouette (alpha >= 0.5) outside its largest 8-connected part (0
    for one piece; a hand whose matting lost the palm falls apart into fingers). None when the silhouette has under
    MIN_REGION_PX pixels."""
    silhouette = (alpha_of(occluder_mask) >= HALF).astype(np.uint8)
    total = int(np.count_nonzero(silhouette))
    if total < MIN_REGION_PX:
        return None
    count, _, stats, _ = cv2.connectedComponentsWithStats(silhouette, connectivity=8)
    largest = int(stats[1:count, cv2.CC_STAT_AREA].max())
    return 1.0 - largest / total


def hole_pixels(occluder_mask: np.ndarray) -> np.ndarray:
    """bool (H, W): the pixels below alpha 0.5 that the silhouette encloses (see :func:`hole_frac`): the ones a
    4-connected flood fill of the outside (a one-pixel frame around the image) does not reach."""
    silhouette = alpha_of(occluder_mask) >= HALF
    canvas = np.pad(silhouette.astype(np.uint8), 1)  # 0 outside the silhouette, framed by 0
    flood_mask = np.zeros((canvas.shape[0] + 2, canvas.shape[1] + 2), np.uint8)
    cv2.floodFill(canvas, flood_mask, (0, 0), 2, flags=4)
    return canvas[1:-1, 1:-1] == 0


def _interior(region: np.ndarray) -> np.ndarray:
    """The pixels of ``region`` whose 4 neighbours are in it too and which are not on the image border (where the
    Laplacian reads only pixels of the region)."""
    inner = region.astype(np.uint8)
    inner[0, :] = inner[-1, :] = inner[:, 0] = inner[:, -1] = 0
    return cv2.erode(inner, _CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)


def laplacian_variance(gray: np.ndarray, region: np.ndarray) -> float | None:
    """Variance of the 4-neighbour Laplacian of ``gray`` (float32 (H, W), 0..255) over the interior of ``region``
    (see :func:`_interior`); None with under MIN_REGION_PX interior pixels."""
    inner = _interior(region)
    if np.count_nonzero(inner) < MIN_REGION_PX:
        return None
    laplacian = cv2.Laplacian(gray, cv2.CV_32F, ksize=1)  # [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    return float(np.var(laplacian[inner].astype(np.float64)))


def sharpness_ratio(image: np.ndarray, face_mask: np.ndarray, occluder_mask: np.ndarray) -> float | None:
    """How sharp the occluder is against the face: the variance of the Laplacian of the grey image over the
    occluder's opaque core (alpha >= 0.95) divided by that over the visible face untouched by the occluder
    (face_mask 1, alpha 0). About 1: as sharp as the face; near 0: blurred (or textureless) against it. None when
    either region is too small or the face has no detail at all."""
    _check("image", image, 3)
    _check("face_mask", face_mask, 2)
    alpha = alpha_of(occluder_mask)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    occluder = laplacian_variance(gray, alpha >= SOFT_HIGH)
    face = laplacian_variance(gray, (face_mask > 0) & (alpha == 0))
    if occluder is None or face is None or face <= 0:
        return None
    return occluder / face


def lab(pixels: np.ndarray) -> np.ndarray:
    """CIELAB (D65; L in [0, 100]) of uint8 RGB pixels (..., 3), as float64 (..., 3)."""
    rgb = pixels.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).reshape(pixels.shape).astype(np.float64)


def ring_radius_px(face_px: int) -> int:
    """Radius of the face ring around the occluder: RING_FACE_FRAC of the face size, at least 2 px."""
    return max(2, round(RING_FACE_FRAC * float(np.sqrt(face_px))))


def delta_e(image: np.ndarray, face_mask: np.ndarray, occluder_mask: np.ndarray, face_px: int) -> float | None:
    """CIE76 distance between the mean Lab colour of the occluder's silhouette (alpha >= 0.5) and the mean Lab
    colour of the visible face around it: face_mask 1, alpha 0, within :func:`ring_radius_px` (Euclidean) of the
    silhouette. Small: the occluder has the face's colour. None with under MIN_REGION_PX pixels in either."""
    alpha = alpha_of(occluder_mask)
    silhouette = alpha >= HALF
    if np.count_nonzero(silhouette) < MIN_REGION_PX:
        return None
    # exact Euclidean distance of each pixel to the silhouette (OpenCV's precise mask: Felzenszwalb's algorithm)
    distance = cv2.distanceTransform((~silhouette).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    # + 1e-3: float32 rounding of sqrt(integer); the next distance past r is at least r + 1 / (2 r) away
    ring = (face_mask > 0) & (alpha == 0) & (distance <= ring_radius_px(face_px) + 1e-3)
    if np.count_nonzero(ring) < MIN_REGION_PX:
        return None
    means = [lab(image[where]).mean(axis=0) for where in (silhouette, ring)]
    return float(np.linalg.norm(means[0] - means[1]))


def contour_length_px(silhouette: np.ndarray) -> float:
    """Length of the silhouette's outline (every outer and hole contour), leaving out the steps that run along the
    image border (where the image cut the occluder: no edge there). Each contour is OpenCV's 8-connected chain of
    boundary pixels, measured with Vossepoel and Smeulders' corrected chain-code estimator (1982, "Vector code
    probability and metrication error in the representation of straight lines of finite length"): 0.980 per axis
    step, 1.406 per diagonal step, -0.091 per change of direction; a plain 1 / sqrt 2 count overestimates a
    circle's perimeter by about 5 %, this one is within 2 % at any orientation."""
    height, width = silhouette.shape
    contours, _ = cv2.findContours(silhouette.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    total = 0.0
    for contour in contours:
        points = contour.reshape(-1, 2).astype(np.int64)
        steps = np.roll(points, -1, axis=0) - points
        following = points + steps
        edges = [(k, edge) for k, side in ((0, width), (1, height)) for edge in (0, side - 1)]
        on_border = np.logical_or.reduce([(points[:, k] == edge) & (following[:, k] == edge) for k, edge in edges])
        diagonal = np.abs(steps).sum(axis=1) == 2
        turns = np.any(steps != np.roll(steps, -1, axis=0), axis=1)
        kept = ~on_border
        total += float(np.where(diagonal, 1.406, 0.980)[kept].sum() - 0.091 * np.count_nonzero(turns & kept))
    return max(total, 0.0)


def edge_width_px(occluder_mask: np.ndarray) -> float | None:
    """Mean width of the occluder's soft edge: pixels with alpha strictly between 0.05 and 0.95, divided by the
    length of the alpha-0.5 outline (:func:`contour_length_px`); a band of width w around an outline of length L
    has area w L. None when the silhouette has under MIN_REGION_PX pixels or no outline inside the image."""
    alpha = alpha_of(occluder_mask)
    silhouette = alpha >= HALF
    if np.count_nonzero(silhouette) < MIN_REGION_PX:
        return None
    length = contour_length_px(silhouette)
    if length <= 0:
        return None
    return float(np.count_nonzero((alpha > SOFT_LOW) & (alpha < SOFT_HIGH))) / length


def invisible_frac(image: np.ndarray, clean_image: np.ndarray, occluder_mask: np.ndarray) -> float | None:
    """Share of the occluder's footprint (alpha >= 0.5) whose composite colour is within JUST_NOTICEABLE_DELTA_E
    (CIE76, per pixel) of the clean face there: pixels labelled occluder that show what the face showed. None
    with under MIN_REGION_PX footprint pixels."""
    _check("clean_image", clean_image, 3)
    footprint = alpha_of(occluder_mask) >= HALF
    if np.count_nonzero(footprint) < MIN_REGION_PX:
        return None
    distance = np.linalg.norm(lab(image[footprint]) - lab(clean_image[footprint]), axis=-1)
    return float(np.mean(distance < JUST_NOTICEABLE_DELTA_E))


def measure_sample(
    image: np.ndarray, face_mask: np.ndarray, occluder_mask: np.ndarray, *, face_px: int | None,
    clean_image: np.ndarray | None = None,
) -> SampleMeasures:  # fmt: skip
    """Every measure of one sample. ``face_px``: the face's pixels before occlusion (the amodal mask's count, or
    the sample's ``face_px_before``); without it the measures relative to the face are None. ``clean_image``:
    the face before compositing; without it ``invisible_frac`` is None."""
    _check("image", image, 3)
    _check("face_mask", face_mask, 2)
    _check("occluder_mask", occluder_mask, 2)
    if not image.shape[:2] == face_mask.shape == occluder_mask.shape:
        raise ArrayContractError(
            f"image {image.shape}, face_mask {face_mask.shape} and occluder_mask {occluder_mask.shape} differ in size"
        )
    known_face = face_px if face_px is not None and face_px > 0 else None
    width = edge_width_px(occluder_mask)
    visible = int(np.count_nonzero(face_mask))
    return SampleMeasures(
        hole_frac=hole_frac(occluder_mask),
        fragment_frac=fragment_frac(occluder_mask),
        sharpness_ratio=sharpness_ratio(image, face_mask, occluder_mask),
        delta_e=None if known_face is None else delta_e(image, face_mask, occluder_mask, known_face),
        edge_width_face=None if width is None or known_face is None else width / float(np.sqrt(known_face)),
        coverage_frac=None if known_face is None else max(0.0, (known_face - visible) / known_face),
        invisible_frac=None if clean_image is None else invisible_frac(image, clean_image, occluder_mask),
        face_px=known_face,
        occluder_px=int(np.count_nonzero(alpha_of(occluder_mask) >= HALF)),
        edge_width_px=width,
    )
