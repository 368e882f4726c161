"""Procedural face masks (``face-masks`` occluder source): surgical, cloth and N95 shapes COCO does not have.

Sample, then apply: :func:`sample_face_mask` draws a frozen :class:`FaceMaskParams` from an explicit generator;
:func:`render_face_mask` draws it (pure, deterministic: its fabric grain comes from ``default_rng(grain_seed)``).
Geometry is in units of the eye distance ``iod_px`` the mask is drawn for, measured from the eyes' midpoint:
the top edge at 0.35-0.45 below the eye line at the nose (0.55 at the sides), the bottom 1.75-1.95 below it
(under the chin), 1.9-2.3 wide. The cut-out's anchor point (``anchor_xy``) is where the mouth sits, 1.1 below
the eye line. Surgical masks have three pleats and ear loops; cloth masks a centre seam and stripes, dots or a
plain weave; N95 masks a rounded cup with a ridge and straps. Shading darkens the sides (the mask wraps round
the face); the grain is low-amplitude noise. Masks are opaque (alpha 1 inside).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ConfigError
from occgen.sources.mask_templates import MASK_TEMPLATE_LICENCE, render_template_mask, sample_template_mask
from occgen.sources.occluder import Occluder

FACE_MASK_STYLES = ("surgical", "cloth", "n95")
#: Styles drawn only when asked for: ``photo`` = MaskTheFace's mask photographs (:mod:`occgen.sources.mask_templates`).
OPTIONAL_FACE_MASK_STYLES = ("photo",)
#: Surgical: light blue, sea green, white, pink, black. N95: white, off-white, grey-blue.
SURGICAL_RGB = ((150, 190, 222), (140, 200, 188), (236, 236, 236), (236, 185, 200), (35, 35, 40))
N95_RGB = ((238, 238, 232), (225, 220, 205), (200, 210, 220))
PATTERNS = ("plain", "stripes", "dots")
SUPERSAMPLE = 1  # large opaque shapes: OpenCV's anti-aliased 8-bit polygons are smooth enough
MOUTH_BELOW_EYES = 1.1  # the mouth, in eye distances below the eye line: the cut-out's anchor point


@dataclass(frozen=True, kw_only=True)
class FaceMaskParams:
    """One face mask (lengths in eye distances ``iod_px`` from the eyes' midpoint; colours RGB 0-255)."""

    style: str
    iod_px: int
    half_width: float
    top: float  # the top edge at the nose
    bottom: float  # the bottom edge at the chin
    rgb: tuple[int, int, int]
    second_rgb: tuple[int, int, int]  # cloth patterns; loops and straps
    pattern: str
    side_shade: float  # how much darker the sides are
    grain: float  # fabric noise amplitude (grey levels)
    grain_seed: int


def sample_face_mask(*, rng: np.random.Generator, iod_px: int = 128, style: str | None = None) -> FaceMaskParams:
    """Draw a face mask drawn for eyes ``iod_px`` apart; ``style`` None: surgical, cloth or N95 uniformly."""
    if style is None:
        style = FACE_MASK_STYLES[int(rng.integers(len(FACE_MASK_STYLES)))]
    if style not in FACE_MASK_STYLES:
        raise ConfigError(f"face mask style must be one of {', '.join(FACE_MASK_STYLES)}, got {style!r}")
    if iod_px < 16:
        raise ConfigError(f"face mask iod_px must be >= 16, got {iod_px}")
    if style == "surgical":
        rgb = SURGICAL_RGB[int(rng.integers(len(SURGICAL_RGB)))]
        second: tuple[int, int, int] = (245, 245, 245)
        pattern = "plain"
    elif style == "n95":
        rgb, second, pattern = N95_RGB[int(rng.integers(len(N95_RGB)))], (150, 155, 160), "plain"
    else:
        rgb = tuple(int(v) for v in rng.integers(20, 230, 3))  # type: ignore[assignment]
        second = tuple(int(v) for v in rng.integers(20, 230, 3))  # type: ignore[assignment]
        pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
    return FaceMaskParams(
        style=style, iod_px=int(iod_px), half_width=float(rng.uniform(0.95, 1.15)),
        top=float(rng.uniform(0.35, 0.45)), bottom=float(rng.uniform(1.75, 1.95)), rgb=rgb, second_rgb=second,
        pattern=pattern, side_shade=float(rng.uniform(0.15, 0.35)), grain=float(rng.uniform(2.0, 8.0)),
        grain_seed=int(rng.integers(2**31)),
    )  # fmt: skip


def _outline(params: FaceMaskParams, origin: np.ndarray, scale: float) -> np.ndarray:
    """(P, 2) int32 polygon: the top edge peaking at the nose, straight-ish sides, a rounded bottom."""
    w = params.half_width
    xs = np.linspace(-1.0, 1.0, 41)
    if params.style == "n95":  # a rounded cup
        top = params.top + 0.25 * xs**2
        bottom = params.bottom - 0.45 * xs**2
        sides = [(w * 0.92, params.top + 0.4), (w * 0.92, params.bottom - 0.6)]
    else:
        top = params.top + 0.18 * np.abs(xs) ** 1.5
        bottom = params.bottom - 0.5 * xs**2
        sides = [(w, params.top + 0.2), (w * 0.97, params.bottom - 0.55)]
    points = [(x * w * 0.9, y) for x, y in zip(xs, top, strict=True)]
    points += [(sides[0][0], sides[0][1]), (sides[1][0], sides[1][1])]
    points += [(x * w * 0.85, y) for x, y in zip(xs[::-1], bottom[::-1], strict=True)]
    points += [(-sides[1][0], sides[1][1]), (-sides[0][0], sides[0][1])]
    array = np.array(points) * scale + origin
    return np.round(array).astype(np.int32)


def render_face_mask(params: FaceMaskParams) -> tuple[Occluder, dict[str, Any]]:
    """Draw ``params`` -> an :class:`Occluder` (kind ``face-mask``, cropped to its alpha) and the draw params
    (every field of ``params`` and ``anchor_xy``, the mouth's place in the cut-out's pixels)."""
    s = SUPERSAMPLE
    scale = params.iod_px * s
    width = int(np.ceil(scale * (2 * params.half_width + 0.5)))
    height = int(np.ceil(scale * (params.bottom + 0.2)))
    origin = np.array([width / 2, 0.0])  # the eyes' midpoint sits on the top row of the canvas
    shape = np.zeros((height, width), np.uint8)
    cv2.fillPoly(shape, [_outline(params, origin, scale)], 255, cv2.LINE_AA)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    x_unit = (xx - origin[0]) / (params.half_width * scale)  # -1..1 across the mask
    y_unit = yy / scale  # eye distances below the eye line
    base = np.empty((height, width, 3), np.float32)
    base[:] = params.rgb
    details = np.zeros((height, width), np.uint8)
    line = max(int(0.012 * scale), 1)
    if params.style == "surgical":
        for fraction in (0.35, 0.55, 0.75):  # pleats: a dark fold with a light edge above it
            y = int((params.top + fraction * (params.bottom - params.top)) * scale)
            cv2.line(details, (0, y), (width, y + int(0.05 * scale)), 255, line * 2)
        base *= np.where(details[..., None] > 0, 0.78, 1.0).astype(np.float32)
    elif params.style == "cloth":
        if params.pattern == "stripes":
            stripe = ((yy / (0.12 * scale)).astype(np.int32) % 2 == 0)[..., None]
            base = np.where(stripe, np.array(params.second_rgb, np.float32), base)
        elif params.pattern == "dots":
            dots = (((xx % (0.18 * scale)) - 0.09 * scale) ** 2 + ((yy % (0.18 * scale)) - 0.09 * scale) ** 2
                    < (0.04 * scale) ** 2)[..., None]  # fmt: skip
            base = np.where(dots, np.array(params.second_rgb, np.float32), base)
        cv2.line(details, (int(origin[0]), 0), (int(origin[0]), height), 255, line)  # the centre seam
        base *= np.where(details[..., None] > 0, 0.8, 1.0).astype(np.float32)
    else:  # n95: a ridge down the middle, a valve on one side
        cv2.line(details, (int(origin[0]), int(params.top * scale)), (int(origin[0]), height), 255, line)
        base *= np.where(details[..., None] > 0, 0.88, 1.0).astype(np.float32)
        valve = (int(origin[0] + 0.45 * scale), int(1.3 * scale))
        cv2.circle(details, valve, int(0.09 * scale), 128, -1)
        base = np.where(details[..., None] == 128, np.array(params.second_rgb, np.float32), base)
    # Wrapped round the face: darker toward the sides and the bottom; convex N95 cups catch light in the middle.
    shading = (1.0 - params.side_shade * x_unit**2 - 0.1 * np.clip(y_unit - params.bottom + 0.5, 0, None)).astype(
        np.float32
    )
    if params.style == "n95":
        shading = shading + (0.08 * np.exp(-(x_unit**2) * 3 - (y_unit - 1.2) ** 2 * 2)).astype(np.float32)
    coarse = np.random.default_rng(params.grain_seed).normal(0.0, params.grain, (height // 4 + 1, width // 4 + 1))
    grain = cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    rgb = base * shading[..., None] + grain[..., None]
    alpha = shape.astype(np.float32) / 255.0
    loops = np.zeros((height, width), np.uint8)  # ear loops / straps: outside the fabric, from its corners
    corner_x = int(params.half_width * scale)
    for side in (-1, 1):
        x = int(origin[0] + side * corner_x)
        cv2.ellipse(loops, (x, int((params.top + params.bottom) / 2 * scale)),
                    (int(0.1 * scale), int((params.bottom - params.top) / 2.5 * scale)), 0,
                    -90 if side > 0 else 90, 90 if side > 0 else 270, 255, line * 2, cv2.LINE_AA)  # fmt: skip
    loop_alpha = (loops.astype(np.float32) / 255.0) * (1.0 - alpha)
    loop_rgb = np.array(params.second_rgb if params.style != "surgical" else (240, 240, 240), np.float32)
    premultiplied = alpha[..., None] * rgb + loop_alpha[..., None] * loop_rgb
    alpha = alpha + loop_alpha
    size = (width // s, height // s)
    small_alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    small_rgb = cv2.resize(premultiplied, size, interpolation=cv2.INTER_AREA) / np.maximum(small_alpha, 1e-6)[..., None]
    rows, cols = np.nonzero(small_alpha > 0)
    top, left = int(rows.min()), int(cols.min())
    window = (slice(top, int(rows.max()) + 1), slice(left, int(cols.max()) + 1))
    out_rgb = np.ascontiguousarray(np.clip(small_rgb[window] + 0.5, 0, 255).astype(np.uint8))
    out_alpha = np.ascontiguousarray(np.clip(small_alpha[window], 0.0, 1.0), dtype=np.float32)
    mouth = origin + [0.0, MOUTH_BELOW_EYES * scale]
    anchor = (float(mouth[0] / s - 0.5 * (s - 1) / s - left), float(mouth[1] / s - 0.5 * (s - 1) / s - top))
    occluder = Occluder(f"face-mask:{params.style}", "face-mask", out_rgb, out_alpha)
    return occluder, {**asdict(params), "anchor_xy": list(anchor)}


@dataclass
class ProceduralFaceMasks:
    """The ``face-masks`` occluder source: every draw a new mask (``styles``: which of surgical / cloth / n95, and
    ``photo`` for MaskTheFace's photographed masks), drawn for eyes ``iod_px`` apart. Only ``photo`` reads files
    (the embedded templates)."""

    styles: tuple[str, ...] = FACE_MASK_STYLES
    iod_px: int = 128
    name: str = "face-masks"

    def __post_init__(self) -> None:
        valid = FACE_MASK_STYLES + OPTIONAL_FACE_MASK_STYLES
        unknown = [style for style in self.styles if style not in valid]
        if unknown or not self.styles:
            raise ConfigError(f"face mask styles must be some of {', '.join(valid)}, got {list(self.styles)}")

    def __len__(self) -> int:
        return len(self.styles)

    def draw(self, *, rng: np.random.Generator) -> tuple[Occluder, dict[str, Any]]:
        style = self.styles[int(rng.integers(len(self.styles)))]
        if style == "photo":
            return render_template_mask(sample_template_mask(rng=rng, iod_px=self.iod_px))
        return render_face_mask(sample_face_mask(rng=rng, iod_px=self.iod_px, style=style))

    def describe(self) -> dict[str, str | int]:
        described: dict[str, str | int] = {
            "kind": self.name, "root": "procedural", "count": len(self), "styles": ",".join(self.styles)
        }  # fmt: skip
        if "photo" in self.styles:
            described["licence"] = MASK_TEMPLATE_LICENCE
        return described
