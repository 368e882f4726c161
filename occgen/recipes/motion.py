"""Motion of one clip (issue 27): parameters sampled once per clip, then a pure ``frame_params(clip, t)``.

Where it sits: :mod:`occgen.recipes.clips` draws a still sample (:class:`~occgen.recipes.drawn.DrawnSample`),
then ``sample_clip(rng=..., ...)`` draws the clip's motion into a frozen :class:`ClipParams`; each frame's
:class:`FrameParams` is interpolated from it without randomness, so any frame can be replayed from the
recorded clip params alone. The ops here are pure (numpy in, numpy out):

- head motion: an affine about the image centre (zoom, rotation, drift in fractions of the side) through
  ``keyframes`` values joined by smoothstep curves (zero speed at each key: no jerks); the face image, its mask
  and its parsing map move together as :class:`~occgen.core.targets.Targets`. The zoom is at least the one that
  keeps the drifted, rotated face covering the canvas (no black corners);
- occluder path: the occluder's centre enters from outside the frame, reaches the still sample's placement
  (carried along by the head motion), rests there (``rest``) or passes through it (``cross``), and leaves;
  each leg eases in and out with smoothstep. ``fade``: its opacity rises while it enters and falls as it leaves.
  Occluders stacked on the first (``natocc.occluders_per_face``) each get their own path (``ClipParams.extras``);
  ``fixed`` (FaceOcc's real images) stays put;
- motion blur: a box along the frame's displacement (its length the displacement in pixels), applied to
  the cut-out in its own pixels (the displacement mapped back through the compositor's occluder matrix), on
  premultiplied colours so edges do not darken. FaceOcc's occluder, a layer on its whole aligned frame, is moved
  and blurred in that frame by :func:`move_layer`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from occgen.compose import CompositeParams
from occgen.core.errors import ConfigError
from occgen.core.params import to_plain
from occgen.core.targets import AffineWarp, Target, Targets, apply_geometric
from occgen.recipes.motion_blur import blur_occluder as blur_occluder
from occgen.recipes.motion_blur import line_blur as line_blur
from occgen.recipes.motion_blur import move_layer as move_layer

PATHS = ("cross", "rest", "fixed")


@dataclass(frozen=True, kw_only=True)
class ClipConfig:
    """Distributions of a clip's motion (``--frames`` sets ``frames``)."""

    frames: int = 16
    keyframes: int = 3  # head keyframes, spread evenly over the clip
    drift_frac: float = 0.03  # largest head shift, a fraction of the image side
    rotation_range_deg: tuple[float, float] = (-4.0, 4.0)
    zoom_range: tuple[float, float] = (1.0, 1.06)  # on top of the zoom that keeps the canvas covered
    rest_p: float = 0.5  # share of clips whose occluder rests on the face (else it crosses it)
    rest_frac_range: tuple[float, float] = (0.3, 0.6)  # share of the clip the occluder rests
    fade_p: float = 0.3  # share of clips whose occluder fades in and out
    motion_blur: bool = True

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise ConfigError(f"--frames must be at least 2 for a clip, got {self.frames}")
        if self.keyframes < 2:
            raise ConfigError(f"clip keyframes must be >= 2, got {self.keyframes}")
        if not 0.0 <= self.drift_frac <= 0.2:
            raise ConfigError(f"clip drift_frac must be in [0, 0.2], got {self.drift_frac}")
        for name in ("rotation_range_deg", "zoom_range", "rest_frac_range"):
            low, high = getattr(self, name)
            if low > high:
                raise ConfigError(f"clip {name} must be (low, high) with low <= high, got {(low, high)}")
        if self.zoom_range[0] <= 0 or not 0.0 <= self.rest_frac_range[0] <= self.rest_frac_range[1] < 1.0:
            raise ConfigError("clip zoom_range must be positive and rest_frac_range inside [0, 1)")
        for name in ("rest_p", "fade_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"clip {name} must be a probability in [0, 1], got {getattr(self, name)}")


@dataclass(frozen=True, kw_only=True)
class OccluderPath:
    """One occluder's path through a clip: ``entry_xy`` / ``exit_xy``, its centre's offsets (px) from its placement
    when it enters / leaves; ``arrive_frac`` / ``leave_frac``, the clip times (0..1) at which it reaches its
    placement and starts to leave; ``fade``, its opacity rises and falls with them."""

    path: str
    entry_xy: tuple[float, float]
    exit_xy: tuple[float, float]
    arrive_frac: float
    leave_frac: float
    fade: bool


#: An occluder that stays where the still has it (FaceOcc's real images: the occlusion is part of the photo).
FIXED_PATH = OccluderPath(path="fixed", entry_xy=(0.0, 0.0), exit_xy=(0.0, 0.0), arrive_frac=0.0, leave_frac=1.0,
                          fade=False)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ClipParams:
    """One clip's motion. ``head_keys``: per keyframe ``(dx_frac, dy_frac, zoom, rotation_deg)``; the first
    occluder's :class:`OccluderPath` fields (``path`` ... ``fade``); ``extras``: the paths of the occluders stacked
    on it (``natocc.occluders_per_face``), in paint order (:meth:`extra` gives each one's clip)."""

    frames: int
    size: int
    head_keys: tuple[tuple[float, float, float, float], ...]
    path: str
    entry_xy: tuple[float, float]
    exit_xy: tuple[float, float]
    arrive_frac: float
    leave_frac: float
    fade: bool
    motion_blur: bool
    extras: tuple[OccluderPath, ...] = ()

    def extra(self, number: int) -> ClipParams:
        """The clip of the ``number``-th stacked occluder (0-based): the same head motion, its own path."""
        path = self.extras[number]
        return replace(self, path=path.path, entry_xy=path.entry_xy, exit_xy=path.exit_xy,
                       arrive_frac=path.arrive_frac, leave_frac=path.leave_frac, fade=path.fade, extras=())  # fmt: skip


def clip_record(clip: ClipParams) -> dict[str, Any]:
    """``clip`` as its frames' metadata keeps it (``extras`` only when there are any: one-occluder clips keep the
    record they always had)."""
    record: dict[str, Any] = to_plain(clip)
    if not clip.extras:
        del record["extras"]
    return record


@dataclass(frozen=True, kw_only=True)
class FrameParams:
    """Frame ``t`` of a clip: ``head_matrix`` (2x3, face pixels -> frame pixels), the occluder's
    ``center_xy`` before the head moves it, ``opacity_frac`` (times the still's opacity) and ``blur_xy``
    (the occluder's displacement over the frame, centred on it, px: the motion blur's direction and length)."""

    frame: int
    head_matrix: tuple[tuple[float, float, float], tuple[float, float, float]]
    offset_xy: tuple[float, float]
    opacity_frac: float
    blur_xy: tuple[float, float]


def smoothstep(x: float) -> float:
    """``3x² - 2x³`` on [0, 1], clamped outside: 0 -> 1 with zero slope at both ends."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def sample_clip(*, rng: np.random.Generator, config: ClipConfig, size: int, params: CompositeParams,
                occluder_shape: tuple[int, int], extras: Sequence[tuple[CompositeParams, tuple[int, int]]] = ()
                ) -> ClipParams:  # fmt: skip
    """Draw a clip's motion around a still sample placed with ``params`` (cut-out of ``occluder_shape``); each of
    ``extras`` (params, cut-out shape of an occluder stacked on it) gets its own path, drawn after the first's."""
    keys = sample_head(rng=rng, config=config)
    first = sample_path(rng=rng, config=config, size=size, center_xy=params.center_xy,
                        reach=placed_reach(params, occluder_shape))  # fmt: skip
    more = tuple(sample_path(rng=rng, config=config, size=size, center_xy=p.center_xy, reach=placed_reach(p, shape))
                 for p, shape in extras)  # fmt: skip
    return clip_params(config, size, keys, first, more)


def clip_params(config: ClipConfig, size: int, head_keys: tuple[tuple[float, float, float, float], ...],
                first: OccluderPath, extras: tuple[OccluderPath, ...] = ()) -> ClipParams:  # fmt: skip
    """The :class:`ClipParams` of a head motion and the occluders' paths."""
    return ClipParams(frames=config.frames, size=size, head_keys=head_keys, path=first.path, entry_xy=first.entry_xy,
                      exit_xy=first.exit_xy, arrive_frac=first.arrive_frac, leave_frac=first.leave_frac,
                      fade=first.fade, motion_blur=config.motion_blur, extras=extras)  # fmt: skip


def placed_reach(params: CompositeParams, occluder_shape: tuple[int, int]) -> float:
    """Half the diagonal (px) of a cut-out of ``occluder_shape`` as ``params`` place it."""
    height, width = occluder_shape
    return 0.5 * math.hypot(width, height) * params.fit_scale * params.scale


def sample_head(*, rng: np.random.Generator, config: ClipConfig) -> tuple[tuple[float, float, float, float], ...]:
    """The head's keyframes ``(dx_frac, dy_frac, zoom, rotation_deg)`` (4 draws each)."""
    keys = []
    for _ in range(config.keyframes):
        angle = float(rng.uniform(0.0, 2.0 * math.pi))
        radius = config.drift_frac * math.sqrt(float(rng.random()))
        zoom, rotation = float(rng.uniform(*config.zoom_range)), float(rng.uniform(*config.rotation_range_deg))
        keys.append((radius * math.cos(angle), radius * math.sin(angle), zoom, rotation))
    return tuple(keys)


def sample_path(*, rng: np.random.Generator, config: ClipConfig, size: int, center_xy: tuple[float, float],
                reach: float) -> OccluderPath:  # fmt: skip
    """Draw one occluder's path around its placement ``center_xy`` on a ``size`` canvas; ``reach`` (px): how far
    its pixels lie from its centre (it enters and leaves with all of them off the canvas)."""
    path = "rest" if rng.random() < config.rest_p else "cross"
    enter_angle = float(rng.uniform(0.0, 2.0 * math.pi))
    distance = exit_distance(center_xy, enter_angle, size, reach)
    entry = (distance * math.cos(enter_angle), distance * math.sin(enter_angle))
    if path == "rest":
        rest = float(rng.uniform(*config.rest_frac_range))
        arrive = 0.5 * (1.0 - rest)
        leave_angle = enter_angle + float(rng.uniform(-0.5 * math.pi, 0.5 * math.pi))  # back out, roughly
        back = exit_distance(center_xy, leave_angle, size, reach)
        exit_xy = (back * math.cos(leave_angle), back * math.sin(leave_angle))
        leave = arrive + rest
    else:  # through its placement and out of the far side
        arrive = leave = 0.5
        far = exit_distance(center_xy, enter_angle + math.pi, size, reach)
        exit_xy = (far * math.cos(enter_angle + math.pi), far * math.sin(enter_angle + math.pi))
    fade = bool(rng.random() < config.fade_p)
    return OccluderPath(path=path, entry_xy=entry, exit_xy=exit_xy, arrive_frac=arrive, leave_frac=leave, fade=fade)


def exit_distance(center_xy: tuple[float, float], angle: float, size: int, reach: float) -> float:
    """How far (px) the occluder's centre travels from ``center_xy`` along ``angle`` until a disc of radius
    ``reach`` around it is off the ``size`` canvas, plus a quarter side: the head motion moves the placement by
    less than that (drift <= 0.2 of the side, zoom about the centre)."""
    direction = (math.cos(angle), math.sin(angle))
    steps = []
    for centre, d in zip(center_xy, direction, strict=True):
        if abs(d) > 1e-9:
            steps.append(((size + reach - centre) if d > 0 else (-reach - centre)) / d)
    return max(min(steps), 0.0) + 0.25 * size


def _head(clip: ClipParams, u: float) -> tuple[float, float, float, float]:
    """The head's ``(dx_frac, dy_frac, zoom, rotation_deg)`` at clip time ``u`` in [0, 1]."""
    keys = clip.head_keys
    position = u * (len(keys) - 1)
    first = min(int(position), len(keys) - 2)
    weight = smoothstep(position - first)
    a, b = keys[first], keys[first + 1]
    dx, dy, zoom, rotation = (x + (y - x) * weight for x, y in zip(a, b, strict=True))
    return dx, dy, zoom, rotation


def head_matrix(clip: ClipParams, u: float) -> np.ndarray:
    """The (2, 3) face -> frame matrix at clip time ``u``: zoom and rotate about the centre, then drift. The
    zoom is raised so that the moved face still covers the canvas."""
    dx, dy, zoom, rotation = _head(clip, u)
    theta = math.radians(rotation)
    cover = (1.0 + 2.0 * math.hypot(dx, dy)) * (abs(math.cos(theta)) + abs(math.sin(theta)))
    scale = zoom * cover
    centre = (clip.size - 1) / 2.0
    cos, sin = scale * math.cos(theta), scale * math.sin(theta)
    tx = centre + dx * clip.size - (cos * centre - sin * centre)
    ty = centre + dy * clip.size - (sin * centre + cos * centre)
    return np.array([[cos, -sin, tx], [sin, cos, ty]], np.float64)


def _offset(clip: ClipParams, u: float) -> tuple[float, float]:
    """The occluder centre's offset (px) from its placement at clip time ``u``."""
    if u < clip.arrive_frac:
        k = 1.0 - smoothstep(u / clip.arrive_frac)
        return clip.entry_xy[0] * k, clip.entry_xy[1] * k
    if u <= clip.leave_frac:
        return 0.0, 0.0
    k = smoothstep((u - clip.leave_frac) / (1.0 - clip.leave_frac))
    return clip.exit_xy[0] * k, clip.exit_xy[1] * k


def _opacity(clip: ClipParams, u: float) -> float:
    if not clip.fade:
        return 1.0
    if u < clip.arrive_frac:
        return smoothstep(u / clip.arrive_frac)
    if u <= clip.leave_frac:
        return 1.0
    return 1.0 - smoothstep((u - clip.leave_frac) / (1.0 - clip.leave_frac))


def frame_params(clip: ClipParams, t: int) -> FrameParams:
    """Frame ``t`` (0..frames-1) of ``clip``: pure, no randomness."""
    if not 0 <= t < clip.frames:
        raise ConfigError(f"frame {t} is outside the clip's 0..{clip.frames - 1}")
    u = t / (clip.frames - 1)
    matrix = head_matrix(clip, u)
    offset = _offset(clip, u)
    # The displacement over one frame, centred on t: (p(t+1) - p(t-1)) / 2. The path starts and ends at rest
    # (smoothstep), so the first and last frames, where the occluder is off the canvas, have no blur to spread
    # it back onto the canvas.
    step = (0.0, 0.0)
    if 0 < t < clip.frames - 1:
        before, after = _offset(clip, (t - 1) / (clip.frames - 1)), _offset(clip, (t + 1) / (clip.frames - 1))
        step = ((after[0] - before[0]) / 2.0, (after[1] - before[1]) / 2.0)
    rows = tuple(tuple(float(v) for v in row) for row in matrix)
    return FrameParams(frame=t, head_matrix=(rows[0], rows[1]), offset_xy=offset,  # type: ignore[arg-type]
                       opacity_frac=_opacity(clip, u), blur_xy=step if clip.motion_blur else (0.0, 0.0))  # fmt: skip


def frame_center(frame: FrameParams, still_center_xy: tuple[float, float]) -> tuple[float, float]:
    """The occluder's centre in frame ``frame``: its still placement moved by the head, plus the path offset."""
    m = frame.head_matrix
    x, y = still_center_xy
    return (m[0][0] * x + m[0][1] * y + m[0][2] + frame.offset_xy[0],
            m[1][0] * x + m[1][1] * y + m[1][2] + frame.offset_xy[1])  # fmt: skip


def is_identity(matrix: tuple[tuple[float, float, float], tuple[float, float, float]]) -> bool:
    return matrix == ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))


def move_face(targets: Targets, frame: FrameParams) -> Targets:
    """The face's targets (image, mask, parsing...) moved by the frame's head matrix (unchanged when identity)."""
    if is_identity(frame.head_matrix):
        return targets
    return apply_geometric(targets, AffineWarp.of(np.asarray(frame.head_matrix)))


def move_parsing(parsing: np.ndarray, frame: FrameParams) -> np.ndarray:
    """A parsing map moved like the face (nearest, outside the canvas 0 = background)."""
    return move_face(Targets({"parsing": Target.class_map(parsing)}), frame).array("parsing")
