"""Procedural fringes (``hair`` occluders): strands of hair hanging over the brows, for anchored placement's
``hair`` family (issue 25: "hats and hair over the brow").

Why procedural and not another face's hair (as :mod:`occgen.recipes.multi` cuts another face): a face set's
``hair`` region is mostly the hair *around* the head (crown, sides, shoulders); the part that hangs over the
forehead is small, present in few faces, and cut along the other face's own brows and skin, so it brings their
edges with it; and it exists only for face sets with parsing maps. A drawn fringe works on every face set, has
exact strand edges (thin strands that a parsing map draws as one blob) and its own alpha.

Sample, then apply: :func:`sample_fringe` draws a frozen :class:`FringeParams` from an explicit generator;
:func:`render_fringe` draws it (pure, deterministic). Lengths are in units of the eye distance the fringe is
drawn for (``iod_px``). The cut-out is ``2.8 x 1.2`` IOD. At its top hangs the hair mass, half an ellipse
``width`` 1.6-2.2 IOD wide reaching ``mass_depth`` 0.2-0.3 IOD down at the centre; 60-120 strands leave its
lower edge and hang ``length`` 0.55-0.8 IOD, each a quadratic curve that falls straight first and then bends
to its tip, shifted sideways by the shared ``sweep`` (-0.3..0.3 IOD, a side part) plus its own -0.06..0.06;
thickness 0.008-0.025 IOD, tapering to 0.45 x at the tip; alpha 0.75-1 per strand (0.8 x that on the last
third). Colours: black, dark brown, brown, auburn, dark blond, grey, each strand 0.8-1.15 x as bright. Anchor
point (``anchor_xy``): the fringe's centre line, 0.12 IOD above the strands' mean tip, where the brows go, so
the strands end just below the brows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from occgen.core.errors import ConfigError
from occgen.sources.occluder import Occluder

#: Hair colours (RGB): black, dark brown, brown, auburn, dark blond, grey.
HAIR_COLOURS = ((22, 18, 16), (50, 34, 24), (92, 62, 40), (120, 56, 30), (150, 118, 70), (140, 136, 132))
WIDTH_IOD, HEIGHT_IOD = 2.8, 1.2  # the cut-out, in eye distances (room for swept strands)
SUPERSAMPLE = 2  # drawn at 2x and area-filtered down (smooth strand edges)


@dataclass(frozen=True, kw_only=True)
class FringeParams:
    """One fringe (lengths in eye distances; per-strand tuples in strand order)."""

    iod_px: int
    rgb: tuple[int, int, int]
    width: float  # the hairline's span
    mass_depth: float  # how far the hair mass reaches down at the centre
    sweep: float  # the sideways shift of the tips, shared (a side part)
    starts_x: tuple[float, ...]  # where each strand leaves the mass, from the cut-out's centre
    lengths: tuple[float, ...]
    bends: tuple[float, ...]  # each strand's own sideways shift at the tip
    thickness: tuple[float, ...]
    alphas: tuple[float, ...]
    brightness: tuple[float, ...]


def sample_fringe(*, rng: np.random.Generator, iod_px: int = 128) -> FringeParams:
    """Draw a fringe for eyes ``iod_px`` apart (distributions in the module docstring)."""
    if iod_px < 16:
        raise ConfigError(f"hair iod_px must be >= 16, got {iod_px}")
    count = int(rng.integers(60, 121))
    width = float(rng.uniform(1.6, 2.2))

    def each(low: float, high: float) -> tuple[float, ...]:
        return tuple(float(v) for v in rng.uniform(low, high, count))

    return FringeParams(
        iod_px=int(iod_px), rgb=HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))], width=width,
        mass_depth=float(rng.uniform(0.2, 0.3)), sweep=float(rng.uniform(-0.3, 0.3)),
        starts_x=each(-width / 2, width / 2), lengths=each(0.55, 0.8), bends=each(-0.06, 0.06),
        thickness=each(0.008, 0.025), alphas=each(0.75, 1.0), brightness=each(0.8, 1.15),
    )  # fmt: skip


def _curve(start: np.ndarray, tip: np.ndarray, steps: int = 12) -> np.ndarray:
    """(steps, 2) points of the quadratic curve from ``start`` to ``tip`` whose control point is straight below
    ``start``: a strand falls first, then bends toward its tip."""
    control = np.array([start[0], (start[1] + tip[1]) / 2])
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * tip


def render_fringe(params: FringeParams) -> tuple[Occluder, dict[str, Any]]:
    """The fringe as an RGBA cut-out (``Occluder`` kind ``hair``) and its draw params (``iod_px``, ``anchor_xy``
    for anchored placement)."""
    unit = params.iod_px * SUPERSAMPLE
    width, height = round(WIDTH_IOD * params.iod_px), round(HEIGHT_IOD * params.iod_px)
    big = (height * SUPERSAMPLE, width * SUPERSAMPLE)
    alpha = np.zeros(big, np.float32)
    colour = np.zeros((*big, 3), np.float32)
    centre = WIDTH_IOD / 2
    half = params.width / 2
    base = np.array(params.rgb, np.float32)
    # the hair mass the strands come from: the lower half of an ellipse hanging from the top edge
    cv2.ellipse(alpha, (round(centre * unit), 0), (round(half * unit), round(params.mass_depth * unit)), 0, 0, 180,
                1.0, -1)  # fmt: skip
    colour[alpha > 0] = base * 0.8
    tips = []
    for x, length, bend, thick, strand_alpha, bright in zip(
        params.starts_x, params.lengths, params.bends, params.thickness, params.alphas, params.brightness, strict=True
    ):
        edge = params.mass_depth * math.sqrt(max(0.0, 1.0 - (x / half) ** 2))  # the mass's lower edge here
        start = np.array([centre + x, max(0.0, edge - 0.05)])
        tip = start + np.array([params.sweep + bend, length])
        tips.append(tip[1])
        points = _curve(start, tip) * unit
        shade = np.clip(base * bright, 0, 255)
        for piece, (taper, fade) in enumerate(((1.0, 1.0), (0.7, 1.0), (0.45, 0.8))):  # thinner and lighter at the tip
            layer = np.zeros(big, np.uint8)
            segment = np.round(points[piece * 4 : piece * 4 + 5]).astype(np.int32)
            cv2.polylines(layer, [segment], False, 1, thickness=max(1, round(thick * taper * unit)))
            covered = layer > 0
            colour[covered] = shade
            alpha[covered] = np.maximum(alpha[covered], strand_alpha * fade)
    small_alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_AREA)
    weight = cv2.resize(colour * alpha[..., None], (width, height), interpolation=cv2.INTER_AREA)
    rgb = np.clip(weight / np.maximum(small_alpha[..., None], 1e-6), 0, 255).round().astype(np.uint8)
    anchor_y = (float(np.mean(tips)) - 0.12) * params.iod_px
    draw = {**asdict(params), "anchor_xy": [centre * params.iod_px - 0.5, anchor_y - 0.5]}
    occluder = Occluder(f"hair-fringe-{params.rgb[0]}-{len(params.starts_x)}", "hair", rgb,
                        np.clip(small_alpha, 0.0, 1.0).astype(np.float32))  # fmt: skip
    return occluder, draw


@dataclass
class ProceduralHair:
    """The ``hair`` occluder source: a new fringe per draw, for eyes ``iod_px`` apart."""

    iod_px: int = 128
    name: str = "hair"

    def __len__(self) -> int:
        return len(HAIR_COLOURS)

    def draw(self, *, rng: np.random.Generator) -> tuple[Occluder, dict[str, Any]]:
        return render_fringe(sample_fringe(rng=rng, iod_px=self.iod_px))

    def describe(self) -> dict[str, str | int]:
        return {"kind": self.name, "root": "procedural", "count": len(self), "licence": "CC0 (drawn by occgen)"}
