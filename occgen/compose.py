"""The compositor: pure functions that put one RGBA occluder on one face (STYLE.md habits 1 and 2).

Data flow: ``sample_composite(rng=...)`` draws every random number into a frozen
:class:`CompositeParams`; ``apply_composite(face, occluder, params)`` is deterministic. The params are
stored with each sample so it can be replayed exactly.

Steps (the NatOcc paper, section 3.2; defaults from the authors' Albumentations settings):
1. occluder photometric augmentation (JPEG, blur, brightness/contrast);
2. one affine warp that composes the augmentation affine (scale, rotation, shear) with the placement
   (box area 0.5-1.0 of the face box, centre uniform inside the face box): one resampling only;
3. alpha eroded then Gaussian-blurred (soft edge), times the opacity (translucent occluders);
4. alpha blending, then the seam band around the occluder edge blurred again;
5. labels: visible face = face mask minus the occluder footprint (a translucent occluder is still
   an occluder); occluder mask = blend alpha x 255.

Sizes. The pixel-valued parameters (blur kernel, alpha erode and blur, seam blur and width) are the authors'
values for 512² faces; :class:`CompositeConfig` holds them at ``reference_size_px`` and
:func:`resolve_pixels` scales them to the image being made (:func:`scale_kernel_px`, :func:`scale_length_px`),
so 512² gives exactly the configured values and every other size the same edges and blur relative to the
face. :class:`CompositeParams` holds the resolved values each sample used.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from occgen.core.arrays import check_image, check_mask, check_same_size
from occgen.core.errors import ConfigError
from occgen.core.geometry import Box, box_slices, grow_box, mask_bbox
from occgen.core.params import to_plain
from occgen.sources.occluder import Occluder

Range = tuple[float, float]

#: The image side the compositor's pixel-valued defaults are for: the NatOcc authors composite onto 512² faces
#: (CelebAMask-HQ's 512² masks; their random shapes are drawn on a 512² canvas, utils/utils.py:150 of
#: kennyvoo/face-occlusion-generation @ fdbbcf3), and their edge values (3x3 erode, 5x5 blurs) are pixels there.
REFERENCE_SIZE_PX = 512


@dataclass(frozen=True, kw_only=True)
class CompositeConfig:
    """Distributions of the compositor's random parameters (``params.yaml`` section ``composite``)."""

    # Occluder augmentation. NatOcc authors' code (Albumentations): ShiftScaleRotate/Affine with
    # scale 0.8-1.2, rotate +-15 deg, shear +-8 deg at p 0.7; ImageCompression quality >= 70 at p 0.25;
    # Blur at p 0.5; RandomBrightnessContrast +-0.1 at p 0.5.
    affine_p: float = 0.7
    scale_range: Range = (0.8, 1.2)
    rotation_range_deg: Range = (-15.0, 15.0)
    shear_range_deg: Range = (-8.0, 8.0)
    jpeg_p: float = 0.25
    jpeg_quality_range: tuple[int, int] = (70, 100)
    blur_p: float = 0.5
    blur_kernel_range_px: tuple[int, int] = (3, 7)
    brightness_contrast_p: float = 0.5
    brightness_range: Range = (-0.1, 0.1)
    contrast_range: Range = (-0.1, 0.1)
    # Placement. NatOcc paper 3.2: "occluders were randomly resized to 0.5-1 of the face size".
    area_frac_range: Range = (0.5, 1.0)
    # Edges. Authors' code: alpha eroded with a 3x3 kernel and Gaussian-blurred 5x5 before blending;
    # the paper: "the intersection of the occluders and the faces ... was blurred again".
    alpha_erode_px: int = 3
    alpha_blur_px: int = 5
    seam_blur_px: int = 5
    seam_width_px: int = 3
    # A pixel is occluded (not visible face) where the occluder's own alpha, before opacity, reaches this.
    footprint_threshold: float = 0.5
    # The pixel-valued fields above (blur_kernel_range_px, alpha_erode_px, alpha_blur_px, seam_blur_px,
    # seam_width_px) are values at a reference_size_px² image; at another size they are scaled by
    # size / reference_size_px (resolve_pixels). null: they are used as given at every size (occgen <= 0.3).
    reference_size_px: int | None = REFERENCE_SIZE_PX

    def __post_init__(self) -> None:
        for name in ("affine_p", "jpeg_p", "blur_p", "brightness_contrast_p"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"composite.{name} must be a probability in [0, 1], got {value}")
        for name in (
            "scale_range", "rotation_range_deg", "shear_range_deg", "jpeg_quality_range",
            "blur_kernel_range_px", "brightness_range", "contrast_range", "area_frac_range",
        ):  # fmt: skip
            low, high = getattr(self, name)
            if low > high:
                raise ConfigError(f"composite.{name} must be (low, high) with low <= high, got {(low, high)}")
        if self.scale_range[0] <= 0 or self.area_frac_range[0] <= 0:
            raise ConfigError("composite.scale_range and area_frac_range must be positive")
        if not 1 <= self.jpeg_quality_range[0] <= self.jpeg_quality_range[1] <= 100:
            raise ConfigError(f"composite.jpeg_quality_range must lie in [1, 100], got {self.jpeg_quality_range}")
        for name in ("alpha_erode_px", "alpha_blur_px", "seam_blur_px", "seam_width_px"):
            if getattr(self, name) < 0:
                raise ConfigError(f"composite.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 < self.footprint_threshold <= 1.0:
            raise ConfigError(f"composite.footprint_threshold must be in (0, 1], got {self.footprint_threshold}")
        if self.reference_size_px is not None and self.reference_size_px < 16:
            raise ConfigError(
                f"composite.reference_size_px must be the image side (>= 16 px, e.g. {REFERENCE_SIZE_PX}) its pixel "
                f"values are meant for, or null to use them as given at every size; got {self.reference_size_px}"
            )


@dataclass(frozen=True, kw_only=True)
class CompositePixels:
    """The compositor's pixel-valued parameters as used on a ``size_px``² image (``factor`` = ``size_px`` /
    ``reference_size_px``, 1 without a reference size): what the store card records as resolved. A sigma of 0
    is OpenCV's own sigma for the kernel size (the reference size's blur, exactly)."""

    size_px: int
    factor: float
    blur_kernel_range_px: tuple[int, int]  # the smallest and largest box blur a sample can draw
    alpha_erode_px: int
    alpha_blur_px: int
    alpha_blur_sigma_px: float
    seam_blur_px: int
    seam_blur_sigma_px: float
    seam_width_px: int


def scale_length_px(length_px: int, factor: float) -> int:
    """A length of ``length_px`` at the reference size, at ``factor`` x that size: rounded half up."""
    return math.floor(length_px * factor + 0.5) if length_px > 0 else length_px


def scale_kernel_px(kernel_px: int, factor: float, *, odd: bool) -> int:
    """A box-shaped kernel (box blur, erosion) ``kernel_px`` wide at the reference size, at ``factor`` x that
    size: its span (``kernel_px - 1``, first tap to last) scaled and rounded half up, ``odd`` then raising an
    even size to the next odd one as the box blur always was. At ``factor`` 1 it is unchanged; 1 = no filter."""
    if kernel_px <= 1:
        return kernel_px
    scaled = 1 + math.floor((kernel_px - 1) * factor + 0.5)
    return _odd(scaled) if odd else scaled


@functools.cache
def gaussian_sigma_px(kernel_px: int) -> float:
    """The standard deviation, in px, of OpenCV's Gaussian kernel of odd size ``kernel_px`` at sigma 0 (its
    default: a fixed binomial table up to 7, 0.3 ((k - 1) / 2 - 1) + 0.8 beyond), measured from its taps."""
    taps = cv2.getGaussianKernel(kernel_px, 0, cv2.CV_64F).ravel()
    offsets = np.arange(kernel_px, dtype=np.float64) - (kernel_px - 1) / 2.0
    return float(np.sqrt(np.sum(taps * offsets**2)))


def scale_gaussian_px(kernel_px: int, factor: float) -> tuple[int, float]:
    """``(kernel, sigma)`` at ``factor`` x the reference size of a Gaussian blur given as ``kernel_px`` with
    OpenCV's default sigma: the sigma (the blur's width) scaled exactly, the kernel ``2 ceil(3 sigma) + 1``.
    At ``factor`` 1, or for no blur (``kernel_px`` <= 1), ``(kernel_px, 0.0)``: the very same OpenCV call."""
    if kernel_px <= 1 or factor == 1.0:
        return kernel_px, 0.0
    sigma = round(gaussian_sigma_px(_odd(kernel_px)) * factor, 4)
    return 2 * math.ceil(3.0 * sigma) + 1, sigma


def resolve_pixels(config: CompositeConfig, size_px: int) -> CompositePixels:
    """``config``'s pixel-valued parameters at an image side of ``size_px`` (see :class:`CompositeConfig`)."""
    if size_px < 1:
        raise ConfigError(f"image size must be >= 1 px, got {size_px}")
    factor = 1.0 if config.reference_size_px is None else size_px / config.reference_size_px
    low, high = (scale_kernel_px(_odd(k), factor, odd=True) for k in config.blur_kernel_range_px)
    alpha_blur, alpha_sigma = scale_gaussian_px(config.alpha_blur_px, factor)
    seam_blur, seam_sigma = scale_gaussian_px(config.seam_blur_px, factor)
    return CompositePixels(
        size_px=size_px, factor=factor, blur_kernel_range_px=(low, high),
        alpha_erode_px=scale_kernel_px(config.alpha_erode_px, factor, odd=False),
        alpha_blur_px=alpha_blur, alpha_blur_sigma_px=alpha_sigma, seam_blur_px=seam_blur,
        seam_blur_sigma_px=seam_sigma, seam_width_px=scale_length_px(config.seam_width_px, factor),
    )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class CompositeParams:
    """Every random choice of one composite; identity values change nothing but the placement."""

    scale: float = 1.0
    rotation_deg: float = 0.0
    shear_deg: float = 0.0
    jpeg_quality: int = 0  # 0 = no JPEG round trip
    blur_kernel_px: int = 0  # 0 = no blur
    brightness: float = 0.0
    contrast: float = 0.0
    fit_scale: float = 1.0  # occluder pixels -> image pixels before the augmentation scale
    center_xy: tuple[float, float] = (0.0, 0.0)
    opacity: float = 1.0
    alpha_erode_px: int = 0
    alpha_blur_px: int = 0
    seam_blur_px: int = 0
    seam_width_px: int = 0
    footprint_threshold: float = 0.5
    # Gaussian sigmas away from the reference size (resolve_pixels); 0 = OpenCV's sigma for the kernel size.
    alpha_blur_sigma_px: float = 0.0
    seam_blur_sigma_px: float = 0.0


#: CompositeParams fields a sample records only when set (not 0): samples made at the reference size (or before
#: issue 30) keep their bytes, and ``CompositeParams(**record)`` still replays them.
_RECORDED_WHEN_SET = ("alpha_blur_sigma_px", "seam_blur_sigma_px")


def composite_record(params: CompositeParams) -> dict[str, Any]:
    """``params`` as the JSON-ready record a sample's metadata keeps (``CompositeParams(**record)`` replays it)."""
    record: dict[str, Any] = to_plain(asdict(params))
    for name in _RECORDED_WHEN_SET:
        if not record[name]:
            del record[name]
    return record


@dataclass(frozen=True)
class Composite:
    """Output of :func:`apply_composite`: the image and both label maps, all (H, W[, 3]) uint8, and the
    occluder's ``footprint`` (bool (H, W): the pixels removed from the face mask, see
    :mod:`occgen.core.labels`)."""

    image: np.ndarray
    face_mask: np.ndarray
    occluder_mask: np.ndarray
    footprint: np.ndarray


def face_box(face_mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` (exclusive) of the visible face; the central half of the image if it is empty."""
    check_mask(face_mask, "face_mask")
    found = mask_bbox(face_mask)
    if found is None:
        height, width = face_mask.shape
        return width // 4, height // 4, width - width // 4, height - height // 4
    top, left, bottom, right = found
    return left, top, right, bottom


def _odd(kernel_px: int) -> int:
    return kernel_px if kernel_px % 2 == 1 else kernel_px + 1


def sample_composite(
    *,
    rng: np.random.Generator,
    config: CompositeConfig,
    face_mask: np.ndarray,
    occluder_shape: tuple[int, int],
    opacity: float = 1.0,
) -> CompositeParams:
    """Draw the parameters of one composite. ``occluder_shape`` is the cut-out's (h, w). Pixel-valued
    parameters are resolved for the image's short side (:func:`resolve_pixels`); the blur kernel is drawn at
    the reference size and then scaled, so one seed blurs alike, relative to the image, at every size."""
    if not 0.0 <= opacity <= 1.0:
        raise ConfigError(f"opacity must be in [0, 1], got {opacity}")
    pixels = resolve_pixels(config, min(face_mask.shape[:2]))
    uniform = rng.uniform
    affine = rng.random() < config.affine_p
    scale = float(uniform(*config.scale_range)) if affine else 1.0
    rotation = float(uniform(*config.rotation_range_deg)) if affine else 0.0
    shear = float(uniform(*config.shear_range_deg)) if affine else 0.0
    low_q, high_q = config.jpeg_quality_range
    jpeg_quality = int(rng.integers(low_q, high_q + 1)) if rng.random() < config.jpeg_p else 0
    low_k, high_k = config.blur_kernel_range_px
    blur_kernel = (
        scale_kernel_px(_odd(int(rng.integers(low_k, high_k + 1))), pixels.factor, odd=True)
        if rng.random() < config.blur_p
        else 0
    )
    photometric = rng.random() < config.brightness_contrast_p
    brightness = float(uniform(*config.brightness_range)) if photometric else 0.0
    contrast = float(uniform(*config.contrast_range)) if photometric else 0.0

    x0, y0, x1, y1 = face_box(face_mask)
    area_frac = float(uniform(*config.area_frac_range))
    occluder_h, occluder_w = occluder_shape
    fit_scale = math.sqrt(area_frac * (x1 - x0) * (y1 - y0) / max(occluder_h * occluder_w, 1))
    center = (float(uniform(x0, x1)), float(uniform(y0, y1)))
    return CompositeParams(
        scale=scale,
        rotation_deg=rotation,
        shear_deg=shear,
        jpeg_quality=jpeg_quality,
        blur_kernel_px=blur_kernel,
        brightness=brightness,
        contrast=contrast,
        fit_scale=fit_scale,
        center_xy=center,
        opacity=float(opacity),
        alpha_erode_px=pixels.alpha_erode_px,
        alpha_blur_px=pixels.alpha_blur_px,
        seam_blur_px=pixels.seam_blur_px,
        seam_width_px=pixels.seam_width_px,
        footprint_threshold=config.footprint_threshold,
        alpha_blur_sigma_px=pixels.alpha_blur_sigma_px,
        seam_blur_sigma_px=pixels.seam_blur_sigma_px,
    )


def apply_photometric(rgb: np.ndarray, params: CompositeParams) -> np.ndarray:
    """JPEG round trip, blur and brightness/contrast on an occluder's colours (a new array)."""
    check_image(rgb, "rgb")
    out = rgb
    if params.jpeg_quality:
        ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality])
        decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else None  # channel order: a round trip
        if decoded is not None:
            out = decoded
    if params.blur_kernel_px:
        out = cv2.blur(out, (params.blur_kernel_px, params.blur_kernel_px))
    if params.brightness or params.contrast:
        # Albumentations' convention: out = in * (1 + contrast) + brightness * 255.
        lut = np.clip(np.arange(256) * (1.0 + params.contrast) + params.brightness * 255.0 + 0.5, 0, 255)
        out = cv2.LUT(out, lut.astype(np.uint8))
    return out.copy() if out is rgb else out


def occluder_matrix(occluder_shape: tuple[int, int], params: CompositeParams) -> np.ndarray:
    """The 2x3 affine map from occluder pixels to image pixels: centre the cut-out, scale it to its
    placed size, shear, rotate, and move its centre to ``params.center_xy``."""
    height, width = occluder_shape
    to_origin = np.array([[1, 0, -width / 2], [0, 1, -height / 2], [0, 0, 1]], np.float64)
    scale = params.fit_scale * params.scale
    scaling = np.diag([scale, scale, 1.0])
    shear = np.array([[1, math.tan(math.radians(params.shear_deg)), 0], [0, 1, 0], [0, 0, 1]], np.float64)
    theta = math.radians(params.rotation_deg)
    rotation = np.array(
        [[math.cos(theta), -math.sin(theta), 0], [math.sin(theta), math.cos(theta), 0], [0, 0, 1]], np.float64
    )
    cx, cy = params.center_xy
    to_center = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], np.float64)
    return (to_center @ rotation @ shear @ scaling @ to_origin)[:2]


def soften_alpha(alpha: np.ndarray, erode_px: int, blur_px: int, blur_sigma_px: float = 0.0) -> np.ndarray:
    """Erode with an ``erode_px`` square kernel, then Gaussian blur ``blur_px`` (odd) of ``blur_sigma_px``
    (0: OpenCV's sigma for that size); 0 skips a step."""
    out = alpha
    if erode_px > 1:
        out = cv2.erode(out, np.ones((erode_px, erode_px), np.uint8))
    if blur_px > 1:
        out = cv2.GaussianBlur(out, (_odd(blur_px), _odd(blur_px)), blur_sigma_px)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def occluder_box(occluder_shape: tuple[int, int], matrix: np.ndarray, margin: int, shape: tuple[int, ...]) -> Box:
    """``(top, left, bottom, right)`` (exclusive) of the image pixels a bilinear warp of an ``occluder_shape``
    cut-out by ``matrix`` can make non-zero (its rectangle grown by the one source pixel bilinear reads
    past each side, and 2 px for rounding), grown by ``margin`` and clipped to ``shape``."""
    height, width = occluder_shape
    corners = np.array([[-1.0, -1.0, 1.0], [width, -1.0, 1.0], [-1.0, height, 1.0], [width, height, 1.0]]).T
    xs, ys = matrix @ corners
    box = (math.floor(ys.min()) - 2, math.floor(xs.min()) - 2, math.ceil(ys.max()) + 3, math.ceil(xs.max()) + 3)
    top, left, bottom, right = grow_box(box, margin, shape)
    return top, left, max(bottom, top), max(right, left)


def apply_composite(image: np.ndarray, face_mask: np.ndarray, occluder: Occluder, params: CompositeParams) -> Composite:
    """Composite ``occluder`` onto ``image`` with ``params``; inputs are never modified.

    Returns the blended image, the visible-face mask (never larger than ``face_mask``) and the occluder
    mask (blend alpha x 255, uint8).

    The warps cover the whole frame (OpenCV's warpAffine rounds its coordinates by the destination's size and
    origin, so a warp into a smaller box would move pixels by a level); the alpha's erode and blur, the
    blend and the labels are computed only in the occluder's box grown by the filters' reach, outside which
    they are 0: the results equal the whole-frame ones bit for bit (tests/test_compose_box.py).
    """
    check_image(image, "image")
    check_mask(face_mask, "face_mask")
    check_same_size(image, face_mask, "image", "face_mask")
    height, width = face_mask.shape
    matrix = occluder_matrix(occluder.alpha.shape, params)
    # Outside the warped cut-out the alpha is 0, and stays 0 through the erode and the blur; inside the box a
    # pixel's filter windows read only box pixels or zeros beyond them (the margin exceeds both reaches).
    reach = params.alpha_erode_px + params.alpha_blur_px + 2
    box = box_slices(occluder_box(occluder.alpha.shape, matrix, reach, face_mask.shape))
    if not face_mask[box].size:  # wholly outside the image (a clip's entering frames): the same result, unwarped
        empty = np.zeros((height, width), np.uint8)
        return Composite(image.copy(), face_mask.copy(), empty, empty.astype(bool))
    rgb = apply_photometric(occluder.rgb, params)
    # Colours are replicated past the cut-out's border so that bilinear edges never pull in black.
    warped_rgb = cv2.warpAffine(rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    warped_alpha = cv2.warpAffine(
        occluder.alpha, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    shape_alpha = np.zeros((height, width), np.float32)
    if warped_alpha[box].size:  # empty when the cut-out lies wholly outside the image
        clipped = np.clip(warped_alpha[box], 0.0, 1.0)
        shape_alpha[box] = soften_alpha(
            clipped, params.alpha_erode_px, params.alpha_blur_px, params.alpha_blur_sigma_px
        )
    blend_alpha = np.zeros((height, width), np.float32)
    blend_alpha[box] = shape_alpha[box] * np.float32(params.opacity)

    out_image = image.copy()
    margin = params.seam_width_px + params.seam_blur_px + 1
    found = mask_bbox(blend_alpha[box] > 0)
    region = None
    if found is not None:
        top, left = box[0].start, box[1].start
        found = (found[0] + top, found[1] + left, found[2] + top, found[3] + left)
        region = box_slices(grow_box(found, margin, face_mask.shape))
    footprint = np.zeros((height, width), bool)
    footprint[box] = shape_alpha[box] >= params.footprint_threshold
    if region is not None:
        # alpha * occluder + (1 - alpha) * face, rounded: the alpha repeated per channel first, so that every
        # operation runs on arrays of one shape (numpy's broadcast over 3 channels costs a loop per pixel).
        alpha_region = np.repeat(blend_alpha[region][:, :, None], 3, axis=2)
        blended = np.multiply(alpha_region, warped_rgb[region], dtype=np.float32)
        blended += np.multiply(np.subtract(np.float32(1.0), alpha_region, out=alpha_region), image[region],
                               out=alpha_region, dtype=np.float32)  # fmt: skip
        blended += np.float32(0.5)
        out_region = np.clip(blended, 0, 255, out=blended).astype(np.uint8)
        if params.seam_blur_px > 1 and params.seam_width_px > 0:
            # Re-blur a band straddling the occluder's outline (NatOcc paper 3.2).
            kernel = np.ones((2 * params.seam_width_px + 1,) * 2, np.uint8)
            edge = (shape_alpha[region] > 0.5).astype(np.uint8)
            band = (cv2.dilate(edge, kernel) - cv2.erode(edge, kernel)).astype(bool)
            if band.any():
                seam = cv2.GaussianBlur(out_region, (_odd(params.seam_blur_px),) * 2, params.seam_blur_sigma_px)
                np.copyto(out_region, seam, where=band[:, :, None])  # out_region[band] = seam[band]
        out_image[region] = out_region
    visible_face = face_mask.copy()  # {0, 1}: the face minus the footprint
    visible_face[box][footprint[box]] = 0
    occluder_mask = np.zeros((height, width), np.uint8)
    occluder_mask[box] = np.clip(blend_alpha[box] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Composite(out_image, visible_face, occluder_mask, footprint)
