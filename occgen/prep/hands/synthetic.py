"""Procedurally drawn hand-like shapes: the embedded demo hands and the test fixtures.

No permissively licensed hand photos are available offline, so the demo and the tests draw hands: a
palm ellipse, four finger capsules and a thumb, and a wrist reaching the image border, anti-aliased by
4x supersampling (so the alpha is known exactly, fractional at the edges) and shaded like skin. These
are *demo-only* shapes; the product path is real 11k Hands photos through ``occgen hands matte``.

Data flow: ``sample_hand_shape(rng=...) -> HandShape`` then ``render_hand(shape, ...) -> (rgb, alpha)``,
optionally ``on_background`` to make an 11k-Hands-like photo on a near-white background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from occgen.core.errors import ConfigError

SUPERSAMPLE = 4


@dataclass(frozen=True, kw_only=True)
class HandShape:
    """Geometry of one drawn hand, fingers pointing up in a unit frame; ``rot90`` turns it afterwards.

    ``finger_angles_deg`` tilt the four fingers from vertical; ``finger_lengths`` are fractions of the
    canvas short side; ``thumb_side`` is -1 (left) or +1 (right); ``skin_rgb`` the base colour.
    """

    finger_angles_deg: tuple[float, float, float, float]
    finger_lengths: tuple[float, float, float, float]
    thumb_angle_deg: float
    thumb_side: int
    palm_scale: float
    skin_rgb: tuple[int, int, int]
    rot90: int = 0


def sample_hand_shape(*, rng: np.random.Generator, rot90: int | None = None) -> HandShape:
    """Draw a plausible open hand (spread fingers, a thumb to one side)."""
    base_angles = (-18.0, -6.0, 6.0, 18.0)
    base_lengths = (0.24, 0.30, 0.31, 0.26)
    skin = np.array([205, 160, 130], np.float64) * rng.uniform(0.55, 1.1) + rng.normal(0, 8, 3)
    return HandShape(
        finger_angles_deg=tuple(float(a + rng.uniform(-5, 5)) for a in base_angles),  # type: ignore[arg-type]
        finger_lengths=tuple(float(x * rng.uniform(0.85, 1.1)) for x in base_lengths),  # type: ignore[arg-type]
        thumb_angle_deg=float(rng.uniform(40, 65)),
        thumb_side=int(rng.choice((-1, 1))),
        palm_scale=float(rng.uniform(0.9, 1.1)),
        skin_rgb=tuple(int(v) for v in np.clip(skin, 40, 245)),  # type: ignore[arg-type]
        rot90=int(rng.integers(4)) if rot90 is None else rot90,
    )


def finger_angle_deg(rot90: int) -> float:
    """Finger direction (image coordinates, degrees; 0 = +x right, 90 = +y down) after ``np.rot90(k)``."""
    # Up is (0, -1); each counter-clockwise quarter turn maps (dx, dy) -> (dy, -dx).
    dx, dy = 0.0, -1.0
    for _ in range(rot90 % 4):
        dx, dy = dy, -dx
    return math.degrees(math.atan2(dy, dx))


def _capsule(canvas: np.ndarray, start: np.ndarray, angle_deg: float, length: float, width: float) -> None:
    theta = math.radians(angle_deg)
    end = start + length * np.array([math.sin(theta), -math.cos(theta)])
    cv2.line(canvas, tuple(int(v) for v in start), tuple(int(v) for v in end), 255, max(int(width), 1), cv2.LINE_8)
    cv2.circle(canvas, tuple(int(v) for v in end), max(int(width / 2), 1), 255, -1)


def render_hand_alpha(shape: HandShape, height: int, width: int) -> np.ndarray:
    """The hand's exact coverage, ``float32 (height, width)`` in [0, 1], before ``shape.rot90``.

    Fingers point up; the wrist runs to the bottom border.
    """
    if min(height, width) < 16:
        raise ConfigError(f"a drawn hand needs at least 16x16 px, got {width}x{height}")
    s = SUPERSAMPLE
    big_h, big_w = height * s, width * s
    side = min(big_h, big_w)
    canvas = np.zeros((big_h, big_w), np.uint8)
    cx, cy = big_w / 2, big_h * 0.62
    palm_w, palm_h = 0.19 * side * shape.palm_scale, 0.20 * side * shape.palm_scale
    cv2.ellipse(canvas, (int(cx), int(cy)), (int(palm_w), int(palm_h)), 0, 0, 360, 255, -1)
    wrist_w = 0.26 * side * shape.palm_scale
    cv2.rectangle(canvas, (int(cx - wrist_w / 2), int(cy)), (int(cx + wrist_w / 2), big_h), 255, -1)
    finger_w = 0.075 * side * shape.palm_scale
    offsets = np.linspace(-0.75, 0.75, 4) * palm_w
    for offset, angle, length in zip(offsets, shape.finger_angles_deg, shape.finger_lengths, strict=True):
        start = np.array([cx + offset, cy - 0.55 * palm_h])
        _capsule(canvas, start, angle, length * side, finger_w)
    thumb_start = np.array([cx + shape.thumb_side * 0.8 * palm_w, cy + 0.1 * palm_h])
    _capsule(canvas, thumb_start, shape.thumb_side * shape.thumb_angle_deg, 0.2 * side, finger_w * 1.15)
    coverage = cv2.resize(canvas.astype(np.float32) / 255.0, (width, height), interpolation=cv2.INTER_AREA)
    return np.clip(coverage, 0.0, 1.0).astype(np.float32)


def render_hand(
    shape: HandShape, height: int, width: int, *, rng: np.random.Generator, grain: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``shape``: ``(rgb uint8 (H, W, 3), alpha float32 (H, W))`` with skin shading everywhere.

    The colour is defined on every pixel (not only under the hand), like a matting foreground, so that
    it can be tested against a foreground estimate. ``rng`` adds skin grain (std ``grain``) under the hand.
    """
    alpha = render_hand_alpha(shape, height, width)
    inside = (alpha > 0.5).astype(np.uint8)
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    depth = np.clip(depth / max(float(depth.max()), 1.0), 0.0, 1.0)
    rows = np.linspace(1.06, 0.94, height, dtype=np.float32)[:, None]
    shade = (0.82 + 0.18 * np.sqrt(depth)) * rows
    noise = rng.normal(0.0, grain, (height, width, 1)).astype(np.float32) * (alpha[:, :, None] > 0)
    rgb = np.asarray(shape.skin_rgb, np.float32)[None, None, :] * shade[:, :, None] + noise
    rgb = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    k = shape.rot90 % 4
    return np.ascontiguousarray(np.rot90(rgb, k)), np.ascontiguousarray(np.rot90(alpha, k))


def on_background(
    rgb: np.ndarray,
    alpha: np.ndarray,
    *,
    rng: np.random.Generator,
    background: tuple[int, int, int] = (246, 244, 241),
    shadow: float = 0.0,
) -> np.ndarray:
    """Composite a drawn hand on a near-white, slightly noisy background (an 11k-Hands-like photo).

    ``shadow`` > 0 darkens the background by up to that fraction under a soft, offset copy of the hand
    (the soft cast shadows of the 11k Hands photos).
    """
    noise = rng.normal(0.0, 1.5, rgb.shape).astype(np.float32)
    back = np.asarray(background, np.float32)[None, None, :] + noise
    if shadow > 0:
        side = min(alpha.shape)
        offset = np.array([[1, 0, 0.03 * side], [0, 1, 0.03 * side]], np.float32)
        cast = cv2.warpAffine(alpha, offset, (alpha.shape[1], alpha.shape[0]))
        cast = cv2.GaussianBlur(cast, (0, 0), 0.02 * side + 1)
        back = back * (1.0 - shadow * cast[:, :, None])
    a = alpha[:, :, None]
    return np.clip(a * rgb.astype(np.float32) + (1.0 - a) * back + 0.5, 0, 255).astype(np.uint8)
