"""Random shapes for RandOcc: smooth Bezier blobs, ellipses and polygons, as alpha masks, filled with DTD
texture crops (the RandOcc occluder source).

Data flow: ``sample_shape(rng=...)`` -> :class:`ShapeParams` (the outline's points, so a shape can be
replayed) -> ``render_shape(params, canvas_px)`` -> float32 alpha (canvas_px, canvas_px) in [0, 1].
The NatOcc paper (section 3.3) overlays "random shape with random transparency and texture from DTD";
blobs of 3-15 control points with random roundness and sharpness follow the authors' code.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ConfigError
from occgen.core.imageio import resize_image
from occgen.sources.occluder import Occluder, crop_to_alpha
from occgen.sources.textures import DTDTextures

SHAPE_KINDS = ("blob", "ellipse", "polygon")
_SUBPIXEL_BITS = 4  # cv2.fillPoly fixed-point precision for smooth outlines


@dataclass(frozen=True, kw_only=True)
class ShapeConfig:
    """Distributions of the random shapes (``params.yaml`` section ``randocc.shapes``)."""

    kind_weights: tuple[float, float, float] = (0.6, 0.2, 0.2)  # blob, ellipse, polygon
    blob_points_range: tuple[int, int] = (3, 15)
    polygon_points_range: tuple[int, int] = (3, 8)
    roundness_range: tuple[float, float] = (0.1, 0.5)  # Bezier handle length / segment length
    sharpness_range: tuple[float, float] = (0.0, 0.6)  # 0 = smooth tangents, 1 = corners
    radius_range: tuple[float, float] = (0.35, 1.0)  # control-point distance from the centre, x half size
    ellipse_aspect_range: tuple[float, float] = (0.3, 1.0)

    def __post_init__(self) -> None:
        if len(self.kind_weights) != len(SHAPE_KINDS) or min(self.kind_weights) < 0 or sum(self.kind_weights) <= 0:
            raise ConfigError(
                f"randocc.shapes.kind_weights must be 3 non-negative weights for {SHAPE_KINDS}, got {self.kind_weights}"
            )
        if self.blob_points_range[0] < 3 or self.polygon_points_range[0] < 3:
            raise ConfigError("randocc.shapes: a blob or polygon needs at least 3 points")
        for name in (
            "blob_points_range", "polygon_points_range", "roundness_range", "sharpness_range",
            "radius_range", "ellipse_aspect_range",
        ):  # fmt: skip
            low, high = getattr(self, name)
            if low > high or low < 0:
                raise ConfigError(f"randocc.shapes.{name} must be (low, high) with 0 <= low <= high, got {(low, high)}")


@dataclass(frozen=True, kw_only=True)
class ShapeParams:
    """One shape: ``points`` in the unit square (x, y), drawn as a closed outline of kind ``kind``."""

    kind: str
    points: tuple[tuple[float, float], ...] = ()
    roundness: float = 0.0
    sharpness: float = 0.0
    ellipse_axes: tuple[float, float] = (0.5, 0.5)
    ellipse_angle_deg: float = 0.0


def _star_points(rng: np.random.Generator, count: int, radius_range: tuple[float, float]) -> np.ndarray:
    angles = np.sort(rng.uniform(0.0, 2.0 * math.pi, count))
    radii = rng.uniform(*radius_range, count) * 0.5
    return np.stack([0.5 + radii * np.cos(angles), 0.5 + radii * np.sin(angles)], axis=1)


def sample_shape(*, rng: np.random.Generator, config: ShapeConfig) -> ShapeParams:
    """Draw one random shape."""
    weights = np.asarray(config.kind_weights, np.float64)
    kind = SHAPE_KINDS[int(rng.choice(len(SHAPE_KINDS), p=weights / weights.sum()))]
    if kind == "ellipse":
        aspect = float(rng.uniform(*config.ellipse_aspect_range))
        return ShapeParams(
            kind=kind, ellipse_axes=(0.46, 0.46 * aspect), ellipse_angle_deg=float(rng.uniform(0.0, 180.0))
        )
    low, high = config.blob_points_range if kind == "blob" else config.polygon_points_range
    points = _star_points(rng, int(rng.integers(low, high + 1)), config.radius_range)
    roundness = float(rng.uniform(*config.roundness_range)) if kind == "blob" else 0.0
    sharpness = float(rng.uniform(*config.sharpness_range)) if kind == "blob" else 0.0
    return ShapeParams(
        kind=kind,
        points=tuple((float(x), float(y)) for x, y in points),
        roundness=roundness,
        sharpness=sharpness,
    )


def bezier_outline(points: np.ndarray, roundness: float, sharpness: float, samples_per_segment: int = 24) -> np.ndarray:
    """A closed piecewise-cubic Bezier curve through ``points`` ((n, 2)), as (m, 2) samples.

    Each point's tangent is the mean direction of its two neighbours' chords, pulled toward the outgoing
    chord by ``sharpness``; handles are ``roundness`` x the chord length.
    """
    count = len(points)
    previous, following = np.roll(points, 1, axis=0), np.roll(points, -1, axis=0)
    chord_in, chord_out = points - previous, following - points

    def unit(vectors: np.ndarray) -> np.ndarray:
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)

    smooth = unit(unit(chord_in) + unit(chord_out))
    tangent_out = unit((1.0 - sharpness) * smooth + sharpness * unit(chord_out))
    tangent_in = unit((1.0 - sharpness) * smooth + sharpness * unit(chord_in))
    lengths = np.linalg.norm(chord_out, axis=1, keepdims=True)
    start, end = points, following
    control_1 = start + roundness * lengths * tangent_out
    control_2 = end - roundness * lengths * np.roll(tangent_in, -1, axis=0)
    t = np.linspace(0.0, 1.0, samples_per_segment, endpoint=False)[None, :, None]
    curve = (
        (1 - t) ** 3 * start[:, None]
        + 3 * (1 - t) ** 2 * t * control_1[:, None]
        + 3 * (1 - t) * t**2 * control_2[:, None]
        + t**3 * end[:, None]
    )
    return curve.reshape(count * samples_per_segment, 2)


def render_shape(params: ShapeParams, canvas_px: int) -> np.ndarray:
    """Rasterise ``params`` into a float32 (canvas_px, canvas_px) alpha in [0, 1], anti-aliased."""
    if canvas_px < 8:
        raise ConfigError(f"shape canvas must be at least 8 px, got {canvas_px}")
    canvas = np.zeros((canvas_px, canvas_px), np.uint8)
    scale = canvas_px * (1 << _SUBPIXEL_BITS)
    if params.kind == "ellipse":
        center = (int(0.5 * scale), int(0.5 * scale))
        axes = (int(params.ellipse_axes[0] * scale), int(params.ellipse_axes[1] * scale))
        cv2.ellipse(canvas, center, axes, params.ellipse_angle_deg, 0, 360, 255, -1, cv2.LINE_AA, _SUBPIXEL_BITS)
    elif params.kind in ("blob", "polygon"):
        points = np.asarray(params.points, np.float64)
        outline = bezier_outline(points, params.roundness, params.sharpness) if params.kind == "blob" else points
        # Blobs can overshoot the unit square: fit the outline into it with a 2 % margin.
        low, high = outline.min(axis=0), outline.max(axis=0)
        outline = 0.02 + 0.96 * (outline - low) / max(float((high - low).max()), 1e-9)
        cv2.fillPoly(canvas, [np.round(outline * scale).astype(np.int32)], 255, cv2.LINE_AA, _SUBPIXEL_BITS)
    else:
        raise ConfigError(f"unknown shape kind {params.kind!r}; valid: {', '.join(SHAPE_KINDS)}")
    return canvas.astype(np.float32) / np.float32(255.0)


@dataclass(frozen=True, kw_only=True)
class TextureCrop:
    """A square crop of a texture: ``side_frac`` of its short side at ``(x_frac, y_frac)`` of the slack."""

    texture_index: int
    side_frac: float
    x_frac: float
    y_frac: float
    rot90: int


def apply_texture_crop(texture: np.ndarray, crop: TextureCrop, canvas_px: int) -> np.ndarray:
    """Cut the square ``crop`` out of ``texture`` and resize it to ``canvas_px``²."""
    height, width = texture.shape[:2]
    side = max(int(round(crop.side_frac * min(height, width))), 1)
    top = int(round(crop.y_frac * (height - side)))
    left = int(round(crop.x_frac * (width - side)))
    patch = np.rot90(texture[top : top + side, left : left + side], crop.rot90)
    return resize_image(np.ascontiguousarray(patch), (canvas_px, canvas_px))


@dataclass
class RandomShapes:
    """RandOcc occluders: a random shape (:mod:`occgen.sources.shapes`) filled with a random DTD texture crop.

    ``canvas_px`` is the canvas at the image size being made: the RandOcc builder resolves the setting (given at
    512²) with :meth:`occgen.recipes.randocc.RandOccConfig.canvas_px_at`."""

    textures: DTDTextures
    shapes: ShapeConfig = field(default_factory=ShapeConfig)
    canvas_px: int = 256
    crop_side_range: tuple[float, float] = (0.5, 1.0)
    name: str = "random-shapes"

    def __len__(self) -> int:
        return len(self.textures)

    def draw(self, *, rng: np.random.Generator) -> tuple[Occluder, dict[str, Any]]:
        shape = sample_shape(rng=rng, config=self.shapes)
        crop = TextureCrop(
            texture_index=int(rng.integers(len(self.textures))),
            side_frac=float(rng.uniform(*self.crop_side_range)),
            x_frac=float(rng.random()),
            y_frac=float(rng.random()),
            rot90=int(rng.integers(4)),
        )
        alpha = render_shape(shape, self.canvas_px)
        rgb = apply_texture_crop(self.textures.load(crop.texture_index), crop, self.canvas_px)
        rgb, alpha = crop_to_alpha(rgb, alpha)
        texture_id = self.textures.texture_id(crop.texture_index)
        occluder = Occluder(f"{shape.kind}:{texture_id}", "random-shape", rgb, alpha)
        return occluder, {"shape": asdict(shape), "texture": asdict(crop), "texture_id": texture_id}

    def describe(self) -> dict[str, str | int]:
        return {"kind": self.name, "textures": self.textures.describe()["fingerprint"], "count": len(self)}
