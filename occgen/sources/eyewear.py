"""Procedural eyewear (``eyewear`` occluder source): clear glasses and sunglasses that COCO does not have.

Sample, then apply: :func:`sample_eyewear` draws a frozen :class:`EyewearParams` from an explicit generator;
:func:`render_eyewear` draws it (pure, deterministic). Geometry is in units of the eye distance the glasses
are drawn for (``iod_px``): lens centres at ``±iod/2`` from the cut-out's anchor point (the eyes' midpoint),
lens half-width 0.36-0.46, half-height 0.24-0.36 (round lenses: 0.85-1 x the half-width), frame 0.02-0.07
thick, temples reaching 0.1-0.2 beyond the lenses. Alpha: frame 1; clear lenses 0.06-0.16 with a brighter
reflection band (see-through: the face shows through them); sunglasses 0.55-0.9, darker at the top for
gradient lenses. The draw params record ``iod_px``, ``anchor_xy`` (cut-out pixels) and ``lens_alpha_min``, which
anchored placement (:mod:`occgen.recipes.placement`) and the eyewear label policy read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ConfigError
from occgen.sources.occluder import Occluder

EYEWEAR_STYLES = ("clear", "sunglasses")
FRAME_SHAPES = ("round", "rectangle", "aviator")
#: Frame colours (RGB): black, dark brown, tortoise, gold, silver, dark red, navy.
FRAME_COLOURS = ((20, 20, 22), (70, 45, 30), (110, 70, 35), (200, 165, 80), (190, 190, 195), (120, 25, 35),
                 (30, 40, 80))  # fmt: skip
#: Sunglass tints (RGB): grey, brown, green, blue.
TINTS = ((25, 25, 28), (60, 40, 25), (35, 50, 35), (25, 35, 60))
SUPERSAMPLE = 2  # drawn at 2x and area-filtered down: smooth edges without OpenCV's 8-bit-only anti-aliasing


@dataclass(frozen=True, kw_only=True)
class EyewearParams:
    """One pair of glasses (lengths in units of the eye distance ``iod_px``; colours RGB 0-255)."""

    style: str
    frame_shape: str
    iod_px: int
    lens_half_width: float
    lens_half_height: float
    frame_thickness: float
    bridge_lift: float  # the bridge's height above the lens centres, in lens half-heights
    temple_length: float
    frame_rgb: tuple[int, int, int]
    lens_rgb: tuple[int, int, int]
    lens_alpha: float  # at the lens top
    lens_alpha_bottom: float  # gradient lenses are lighter at the bottom
    reflection_alpha: float  # added along the reflection band
    reflection_angle_deg: float


def sample_eyewear(*, rng: np.random.Generator, iod_px: int = 128, style: str | None = None) -> EyewearParams:
    """Draw a pair of glasses drawn for eyes ``iod_px`` apart; ``style`` None: clear or sunglasses, 50/50."""
    if style is None:
        style = EYEWEAR_STYLES[int(rng.integers(len(EYEWEAR_STYLES)))]
    if style not in EYEWEAR_STYLES:
        raise ConfigError(f"eyewear style must be one of {', '.join(EYEWEAR_STYLES)}, got {style!r}")
    if iod_px < 16:
        raise ConfigError(f"eyewear iod_px must be >= 16, got {iod_px}")
    shape = FRAME_SHAPES[int(rng.integers(len(FRAME_SHAPES)))]
    half_width = float(rng.uniform(0.36, 0.46))
    half_height = half_width * float(rng.uniform(0.85, 1.0)) if shape == "round" else float(rng.uniform(0.24, 0.36))
    frame_rgb = FRAME_COLOURS[int(rng.integers(len(FRAME_COLOURS)))]
    if style == "clear":
        tone = int(rng.integers(200, 246))
        lens_rgb = (tone, min(tone + 8, 255), min(tone + 15, 255))  # a faint blue-grey coating
        alpha = float(rng.uniform(0.06, 0.16))
        alpha_bottom = alpha
    else:
        lens_rgb = TINTS[int(rng.integers(len(TINTS)))]
        alpha = float(rng.uniform(0.55, 0.9))
        alpha_bottom = alpha * (float(rng.uniform(0.6, 0.9)) if rng.random() < 0.4 else 1.0)
    return EyewearParams(
        style=style, frame_shape=shape, iod_px=int(iod_px), lens_half_width=half_width, lens_half_height=half_height,
        frame_thickness=float(rng.uniform(0.02, 0.07)), bridge_lift=float(rng.uniform(0.1, 0.5)),
        temple_length=float(rng.uniform(0.1, 0.2)), frame_rgb=frame_rgb, lens_rgb=lens_rgb, lens_alpha=alpha,
        lens_alpha_bottom=alpha_bottom, reflection_alpha=float(rng.uniform(0.05, 0.15)),
        reflection_angle_deg=float(rng.uniform(-50.0, -20.0)),
    )  # fmt: skip


def _lens_outline(params: EyewearParams, centre: np.ndarray, scale: float, outer_side: float) -> np.ndarray:
    """(P, 2) int32 polygon of one lens; ``outer_side`` +1 / -1: which way is away from the nose."""
    a, b = params.lens_half_width * scale, params.lens_half_height * scale
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    x, y = np.cos(t), np.sin(t)
    if params.frame_shape == "rectangle":  # a superellipse: straight sides, rounded corners
        x, y = np.sign(x) * np.abs(x) ** 0.4, np.sign(y) * np.abs(y) ** 0.4
    elif params.frame_shape == "aviator":  # teardrop: the lower outer quarter droops
        droop = np.clip(y, 0, None) * np.clip(x * outer_side, 0, None)
        y = y + 0.35 * droop
        x = x * (1 - 0.15 * np.clip(-y, 0, None))
    return np.round(np.stack([centre[0] + a * x, centre[1] + b * y], axis=1)).astype(np.int32)


def render_eyewear(params: EyewearParams) -> tuple[Occluder, dict[str, Any]]:
    """Draw ``params`` -> an :class:`Occluder` (kind ``eyewear``, cropped to its alpha) and the draw params
    (every field of ``params``, ``anchor_xy`` = the eyes' midpoint in the cut-out's pixels, ``lens_alpha_min``)."""
    s = SUPERSAMPLE
    scale = params.iod_px * s
    a, b = params.lens_half_width * scale, params.lens_half_height * scale
    width = int(np.ceil(scale * (1 + 2 * params.lens_half_width + 2 * params.temple_length + 0.2)))
    height = int(np.ceil(2.8 * b + 0.2 * scale))
    origin = np.array([width / 2, height / 2])
    thickness = max(int(round(params.frame_thickness * scale)), 1)
    frame = np.zeros((height, width), np.uint8)
    lenses = np.zeros((height, width), np.uint8)
    outer_x = []
    for side in (-1.0, 1.0):
        centre = origin + [side * scale / 2, 0.0]
        outline = _lens_outline(params, centre, scale, side)
        cv2.fillPoly(lenses, [outline], 255)
        cv2.polylines(frame, [outline], True, 255, thickness)
        outer_x.append(int(outline[:, 0].max() if side > 0 else outline[:, 0].min()))
    lift = origin[1] - params.bridge_lift * b
    inner = [origin + [-scale / 2 + a * 0.95, 0], origin + [scale / 2 - a * 0.95, 0]]
    bridge = np.array([[inner[0][0], lift + 0.3 * b], [origin[0], lift], [inner[1][0], lift + 0.3 * b]], np.int32)
    cv2.polylines(frame, [bridge], False, 255, max(int(thickness * 0.8), 1))
    reach = int(params.temple_length * scale)
    temple_y = int(origin[1] - 0.45 * b)
    for x, side in zip(outer_x, (-1, 1), strict=True):
        cv2.line(frame, (x, temple_y), (x + side * reach, temple_y - int(0.1 * b)), 255, thickness)
    frame_alpha = frame.astype(np.float32) / 255.0
    lens_alpha = lenses.astype(np.float32) / 255.0 * (1.0 - frame_alpha)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    tint_alpha = params.lens_alpha + (params.lens_alpha_bottom - params.lens_alpha) * rows
    theta = np.radians(params.reflection_angle_deg)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    across = (xx - origin[0]) * np.sin(theta) - (yy - origin[1]) * np.cos(theta)
    band = np.exp(-((((np.abs(across) % (scale * 0.9)) - scale * 0.25) / (0.04 * scale)) ** 2)).astype(np.float32)
    glass_alpha = np.clip(tint_alpha + params.reflection_alpha * band, 0.0, 1.0)
    alpha = frame_alpha + lens_alpha * glass_alpha
    shade = (1.0 - 0.35 * rows + 0.1 * band).astype(np.float32)  # frames lit from above, glints on the glass
    frame_rgb = np.clip(np.array(params.frame_rgb, np.float32) * shade[..., None], 0, 255)
    glint = 0.7 * band[..., None]
    glass_rgb = np.array(params.lens_rgb, np.float32) * (1 - glint) + 255.0 * glint
    premultiplied = frame_alpha[..., None] * frame_rgb + (lens_alpha * glass_alpha)[..., None] * glass_rgb
    size = (width // s, height // s)
    small_alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    small_rgb = cv2.resize(premultiplied, size, interpolation=cv2.INTER_AREA) / np.maximum(small_alpha, 1e-6)[..., None]
    rows_any, cols_any = np.nonzero(small_alpha > 0)
    top, left = int(rows_any.min()), int(cols_any.min())
    window = (slice(top, int(rows_any.max()) + 1), slice(left, int(cols_any.max()) + 1))
    rgb = np.clip(small_rgb[window] + 0.5, 0, 255).astype(np.uint8)
    cut_alpha = np.ascontiguousarray(np.clip(small_alpha[window], 0.0, 1.0), dtype=np.float32)
    anchor = (float(origin[0] / s - 0.5 * (s - 1) / s - left), float(origin[1] / s - 0.5 * (s - 1) / s - top))
    occluder = Occluder(f"eyewear:{params.style}:{params.frame_shape}", "eyewear", np.ascontiguousarray(rgb), cut_alpha)
    record = {
        **asdict(params),
        "anchor_xy": list(anchor),
        "lens_alpha_min": min(params.lens_alpha, params.lens_alpha_bottom),
    }
    return occluder, record


@dataclass
class ProceduralEyewear:
    """The ``eyewear`` occluder source: every draw a new pair (``styles``: which of clear / sunglasses), drawn for
    eyes ``iod_px`` apart. Nothing is read from disk."""

    styles: tuple[str, ...] = EYEWEAR_STYLES
    iod_px: int = 128
    name: str = "eyewear"

    def __post_init__(self) -> None:
        unknown = [style for style in self.styles if style not in EYEWEAR_STYLES]
        if unknown or not self.styles:
            raise ConfigError(f"eyewear styles must be some of {', '.join(EYEWEAR_STYLES)}, got {list(self.styles)}")

    def __len__(self) -> int:
        return len(self.styles) * len(FRAME_SHAPES)

    def draw(self, *, rng: np.random.Generator) -> tuple[Occluder, dict[str, Any]]:
        style = self.styles[int(rng.integers(len(self.styles)))]
        return render_eyewear(sample_eyewear(rng=rng, iod_px=self.iod_px, style=style))

    def describe(self) -> dict[str, str | int]:
        return {"kind": self.name, "root": "procedural", "count": len(self), "styles": ",".join(self.styles)}
