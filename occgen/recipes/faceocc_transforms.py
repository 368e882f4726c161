"""FaceOcc's per-sample ops (Yin & Chen 2022): colour jitter, the occluder's affine jitter, the whole-sample
affine and the paste, each sampled first (a frozen params dataclass) and then applied.

Where it sits: under :mod:`occgen.recipes.faceocc`, which draws the params per sample and calls these. The
whole-sample affine moves a sample as named targets (:mod:`occgen.core.targets`): its matrix may hold a
flip, so it mirrors the parsing map's left/right classes too (``l_eye``/``r_eye`` and so on).

Facts are cited as ``file:line`` of face3d0725/FaceExtraction @ e75d4a8 (see /work/notes/faceocc.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from occgen.core.errors import ConfigError
from occgen.core.targets import AffineWarp, Targets, apply_geometric

# --- ranges --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OccluderJitterConfig:
    """torchvision-style RandomAffine ranges for an occluder in the 256² frame, plus a horizontal flip.

    Defaults: the ordinary occluders' RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.8, 1.2),
    shear=(-10, 10, -0.1, 0.1)) and RandomHorizontalFlip(0.5) (dataset.py:33-39).
    """

    degrees: float = 10.0
    translate_frac: tuple[float, float] = (0.1, 0.1)
    scale_range: tuple[float, float] = (0.8, 1.2)
    shear_x_deg: tuple[float, float] = (-10.0, 10.0)
    shear_y_deg: tuple[float, float] = (-0.1, 0.1)
    flip_p: float = 0.5

    def __post_init__(self) -> None:
        if self.degrees < 0 or not all(0 <= t <= 1 for t in self.translate_frac):
            raise ConfigError("faceocc jitter: degrees must be >= 0 and translate_frac in [0, 1]")
        if not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ConfigError(f"faceocc jitter: scale_range must be 0 < low <= high, got {self.scale_range}")
        if self.shear_x_deg[0] > self.shear_x_deg[1] or self.shear_y_deg[0] > self.shear_y_deg[1]:
            raise ConfigError("faceocc jitter: shear ranges must be (low, high)")
        if not 0 <= self.flip_p <= 1:
            raise ConfigError(f"faceocc jitter: flip_p must be in [0, 1], got {self.flip_p}")


def default_mask_jitter() -> OccluderJitterConfig:
    # Face masks: RandomAffine(degrees=5, translate=(0.0, 0.1), scale=(0.8, 1.0), shear=(-5, 5, -0.1, 0.1))
    # and the same flip (dataset.py:41-44,55-56): never shifted sideways, never enlarged.
    return OccluderJitterConfig(degrees=5.0, translate_frac=(0.0, 0.1), scale_range=(0.8, 1.0),
                                shear_x_deg=(-5.0, 5.0), shear_y_deg=(-0.1, 0.1))  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class SampleAffineConfig:
    """The whole-sample affine of the authors' transforms.RandomAffine(0.2, 20, 0.5) (dataset.py:84).

    Flip p 0.5 (transforms.py:20,34-36), angle U[-20, 20] deg (transforms.py:23), s U[0.8, 1.2]
    (transforms.py:27) and one shift t = 0.1 x U[0, 1) for both x and y in normalised units
    (transforms.py:28-32). The matrix maps output to input coordinates (grid_sample, align_corners=True,
    transforms.py:29-40), so content scales by 1/s and only ever shifts left and up: the authors' asymmetry is
    kept (``shift_symmetric: true`` draws t in [-max, max] instead).
    """

    enabled: bool = True
    flip_p: float = 0.5
    degrees: float = 20.0
    scale_range: tuple[float, float] = (0.8, 1.2)
    shift_max: float = 0.1
    shift_symmetric: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.flip_p <= 1 or self.degrees < 0 or self.shift_max < 0:
            raise ConfigError("faceocc.sample_affine: flip_p must be in [0, 1], degrees and shift_max >= 0")
        if not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ConfigError(f"faceocc.sample_affine.scale_range must be 0 < low <= high, got {self.scale_range}")


# --- colour jitter -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColorJitterParams:
    """Brightness, contrast and saturation factors (1 = identity), applied in ``order`` (0 b, 1 c, 2 s),
    as torchvision's ColorJitter draws a random order."""

    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    order: tuple[int, ...] = (0, 1, 2)


def sample_color_jitter(*, rng: np.random.Generator, strength: float) -> ColorJitterParams:
    """Factors U[1 - strength, 1 + strength] each, in a random order (always 4 draws)."""
    factors = rng.uniform(1.0 - strength, 1.0 + strength, size=3)
    order = tuple(int(i) for i in rng.permutation(3))
    return ColorJitterParams(float(factors[0]), float(factors[1]), float(factors[2]), order)


def apply_color_jitter(rgb: np.ndarray, params: ColorJitterParams) -> np.ndarray:
    """Apply ``params`` to ``uint8 (H, W, 3)``; returns a new uint8 image (the input is not mutated).

    PIL ImageEnhance semantics, as torchvision's ColorJitter on PIL images, each step rounded to uint8:
    brightness scales, contrast blends with the mean grey level, saturation blends with the grey image.
    """
    if (params.brightness, params.contrast, params.saturation) == (1.0, 1.0, 1.0):
        return rgb
    out = rgb
    for op in params.order:
        if op == 0:
            out = cv2.addWeighted(out, params.brightness, out, 0.0, 0.0)
        elif op == 1:
            mean = float(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).mean())
            out = cv2.addWeighted(out, params.contrast, out, 0.0, mean * (1.0 - params.contrast))
        else:
            grey = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
            out = cv2.addWeighted(out, params.saturation, grey, 1.0 - params.saturation, 0.0)
    return out


# --- the occluder's jitter -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OccluderJitterParams:
    angle_deg: float = 0.0
    translate_px: tuple[float, float] = (0.0, 0.0)
    scale: float = 1.0
    shear_deg: tuple[float, float] = (0.0, 0.0)
    flip: bool = False

    @property
    def identity(self) -> bool:
        return self == OccluderJitterParams()


def sample_occluder_jitter(
    *, rng: np.random.Generator, config: OccluderJitterConfig, size: int
) -> OccluderJitterParams:
    """Draw one jitter (always 7 draws)."""
    return occluder_jitter_from_uniforms(rng.random(7), config, size)


def occluder_jitter_from_uniforms(u: np.ndarray, config: OccluderJitterConfig, size: int) -> OccluderJitterParams:
    """The jitter given 7 uniforms in [0, 1); translation rounded to whole pixels as torchvision does."""
    max_dx, max_dy = config.translate_frac[0] * size, config.translate_frac[1] * size
    return OccluderJitterParams(
        angle_deg=float(-config.degrees + 2 * config.degrees * u[0]),
        translate_px=(float(round(-max_dx + 2 * max_dx * u[1])), float(round(-max_dy + 2 * max_dy * u[2]))),
        scale=float(config.scale_range[0] + (config.scale_range[1] - config.scale_range[0]) * u[3]),
        shear_deg=(
            float(config.shear_x_deg[0] + (config.shear_x_deg[1] - config.shear_x_deg[0]) * u[4]),
            float(config.shear_y_deg[0] + (config.shear_y_deg[1] - config.shear_y_deg[0]) * u[5]),
        ),
        flip=bool(u[6] < config.flip_p),
    )


def occluder_jitter_matrix(params: OccluderJitterParams, size: int) -> np.ndarray:
    """The forward 2x3 matrix (input px -> output px) of ``params``: rotate, shear and scale about the
    canvas centre, translate, then flip about the centre (RandomAffine then RandomHorizontalFlip)."""
    centre = (size - 1) / 2.0
    angle, shear_x, shear_y = (math.radians(v) for v in (params.angle_deg, *params.shear_deg))
    rotation = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])  # CCW on screen
    shear = np.array([[1.0, -math.tan(shear_x)], [-math.tan(shear_y), 1.0]])
    linear = rotation @ shear * params.scale
    offset = np.array([centre, centre]) + np.array(params.translate_px) - linear @ np.array([centre, centre])
    matrix = np.hstack([linear, offset[:, None]])
    if params.flip:
        matrix = np.array([[-1.0, 0.0, 2 * centre], [0.0, 1.0, 0.0]]) @ np.vstack([matrix, [0, 0, 1]])
    return matrix


def apply_occluder_jitter(
    rgb: np.ndarray, alpha: np.ndarray, params: OccluderJitterParams
) -> tuple[np.ndarray, np.ndarray]:
    """Warp an aligned-frame RGBA pair with nearest neighbour and fill 0 (torchvision's defaults,
    dataset.py:33-39): no new alpha values appear."""
    if params.identity:
        return rgb, alpha
    size = alpha.shape[0]
    matrix = occluder_jitter_matrix(params, size)

    def warp(array: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(array, matrix, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0)  # fmt: skip

    return warp(rgb), warp(alpha)


# --- the whole-sample affine ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleAffineParams:
    flip: bool = False
    angle_deg: float = 0.0
    scale: float = 1.0
    shift: float = 0.0  # normalised units, the same for x and y

    @property
    def identity(self) -> bool:
        return self == SampleAffineParams()


def sample_sample_affine(*, rng: np.random.Generator, config: SampleAffineConfig) -> SampleAffineParams:
    u = rng.random(4)  # always 4 draws
    if not config.enabled:
        return SampleAffineParams()
    shift = (2 * u[3] - 1) * config.shift_max if config.shift_symmetric else u[3] * config.shift_max
    return SampleAffineParams(
        flip=bool(u[0] < config.flip_p),
        angle_deg=float(-config.degrees + 2 * config.degrees * u[1]),
        scale=float(config.scale_range[0] + (config.scale_range[1] - config.scale_range[0]) * u[2]),
        shift=float(shift),
    )


def sample_affine_inverse(params: SampleAffineParams, size: int) -> np.ndarray:
    """The 2x3 matrix mapping output pixels to input pixels (transforms.py:29-40): M in normalised
    coordinates [-1, 1] with align_corners=True, wrapped by pixel <-> normalised conversions."""
    a = math.radians(params.angle_deg)
    s, t = params.scale, params.shift
    m = np.array([[s * math.cos(a), s * math.sin(a), t], [-s * math.sin(a), s * math.cos(a), t], [0, 0, 1]])
    if params.flip:
        m[:, 0] = -m[:, 0]
        m[2, 0] = 0.0
    half = (size - 1) / 2.0
    to_norm = np.array([[1 / half, 0, -1], [0, 1 / half, -1], [0, 0, 1]])
    to_px = np.array([[half, 0, half], [0, half, half], [0, 0, 1]])
    return (to_px @ m @ to_norm)[:2]


def sample_affine_op(params: SampleAffineParams, size: int) -> AffineWarp:
    """The whole-sample affine as a geometric op on a ``size``² canvas: the output->input matrix of
    :func:`sample_affine_inverse`; it mirrors (swaps left/right classes and keypoints) when ``params.flip``."""
    return AffineWarp.of(sample_affine_inverse(params, size), inverse=True)


def apply_sample_affine(targets: Targets, params: SampleAffineParams) -> Targets:
    """Move every target of a square sample: images bilinear, masks and class maps nearest, zero outside
    (transforms.py:39-42); a flip also swaps a class map's left/right pairs. Identity params return ``targets``
    itself."""
    if params.identity:
        return targets
    return apply_geometric(targets, sample_affine_op(params, targets.canvas[0]))


# --- paste ---------------------------------------------------------------------------------------------------


def paste(
    image: np.ndarray, face_mask: np.ndarray, occ_rgb: np.ndarray, alpha: np.ndarray, *, opacity: float = 1.0,
    footprint_threshold: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """I = occ x a + I x (1 - a) (dataset.py:104); visible = face x (1 - a) > 0 (dataset.py:105 with the
    later binarisation, transforms.py:42; paper eq. 1). Returns image, visible face and occluder mask (a x 255).

    Clip frames (:mod:`occgen.recipes.faceocc_drawn`): a fading occluder blends with a = alpha x ``opacity`` (its
    occluder mask too), and the face loses the pixels where its own alpha reaches ``footprint_threshold`` (a
    motion-blurred hard matte keeps the binarisation's 0.5); the defaults are the authors' paste."""
    blend = alpha if opacity == 1.0 else alpha * np.float32(opacity)
    opaque = blend >= 1.0
    out = image.copy()
    out[opaque] = occ_rgb[opaque]
    partial = (blend > 0.0) & ~opaque  # only soft mattes (hard_alpha: false) blend
    if partial.any():
        a = blend[partial][:, None]
        out[partial] = (occ_rgb[partial] * a + image[partial] * (1.0 - a) + 0.5).astype(np.uint8)
    visible = (face_mask.astype(bool) & (alpha < footprint_threshold)).astype(np.uint8)
    occluder_mask = (blend * 255.0 + 0.5).astype(np.uint8)
    return out, visible, occluder_mask
