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

import cv2
import numpy as np

from occgen.compose import CompositeParams, occluder_matrix
from occgen.core.errors import ConfigError
from occgen.core.geometry import mask_bbox
from occgen.core.imageio import resize_image
from occgen.core.params import to_plain
from occgen.core.targets import AffineWarp, Target, Targets, apply_geometric
from occgen.sources.occluder import Occluder

PATHS = ("cross", "rest", "fixed")
_UNPREMULTIPLY_EPS = 1e-6  # below this blurred alpha a pixel keeps the cut-out's own colour


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


def line_blur(image: np.ndarray, motion_xy: tuple[float, float], pad_xy: tuple[int, int] = (0, 0)) -> np.ndarray:
    """``image`` float32 (H, W, C<=4) averaged along a line of ``motion_xy`` (its length in pixels, centred on
    each pixel): rotated so the motion runs along x, box-blurred along x, rotated back (a box filter costs the
    same at any length; a 2-D line kernel's cost grows with its area). Unchanged below one pixel.

    The result is (H + 2 pad_y, W + 2 pad_x, C), the image's centre at its centre (pixels beyond the image are 0):
    ``pad_xy`` is the room the blur spreads into; whatever spreads past it is cut. The rotated canvas is the
    image's bounding box once rotated, widened by the blur's reach (not the square of the padded image's diagonal:
    the same pixels in up to 3x less area), its sides of the parity of the image sides they lie nearest, so that
    a motion along x or y moves pixels by whole pixels (no resampling)."""
    pad_x, pad_y = pad_xy
    length = math.hypot(*motion_xy)
    taps = max(round(length), 1)
    taps += 1 - taps % 2  # odd: centred on the pixel
    if length < 1.0:
        return _pad(image, pad_x, pad_y)
    if not _zero_border(image):  # a ring of zeros lets both warps skip OpenCV's border path (_warp_inside)
        image, pad_x, pad_y = _pad(image, 1, 1), pad_x - 1, pad_y - 1
    height, width = image.shape[:2]
    c, s = motion_xy[0] / length, motion_xy[1] / length
    # Canvas pixels beyond this box fall outside the image once rotated back
    rotated_w = math.ceil(abs(c) * width + abs(s) * height) + 4
    rotated_h = math.ceil(abs(s) * width + abs(c) * height) + 4
    along, across = (width, height) if abs(c) >= abs(s) else (height, width)  # the sides nearest canvas x and y
    side_w, side_h = rotated_w + (rotated_w - along) % 2, rotated_h + (rotated_h - across) % 2
    cx, cy, kx, ky = (width - 1) / 2, (height - 1) / 2, (side_w - 1) / 2, (side_h - 1) / 2
    to_canvas = np.array([[c, s, kx - (c * cx + s * cy)], [-s, c, ky - (-s * cx + c * cy)]], np.float64)
    # The canvas is widened by the blur's reach after the warp (zeros copied, not warped)
    reach = (taps - 1) // 2
    rotated = _pad(_warp_inside(image, to_canvas, (side_w, side_h), inverse=False), reach, 0)
    blurred = cv2.blur(rotated, (taps, 1), borderType=cv2.BORDER_CONSTANT)
    to_canvas[0, 2] += reach
    padded_to_canvas = to_canvas.copy()  # output pixel (x, y) is image pixel (x - pad_x, y - pad_y)
    padded_to_canvas[:, 2] -= to_canvas[:, :2] @ np.array([pad_x, pad_y], np.float64)
    back = _warp_inside(blurred, padded_to_canvas, (width + 2 * pad_x, height + 2 * pad_y), inverse=True)
    return back.reshape(height + 2 * pad_y, width + 2 * pad_x, *image.shape[2:])  # OpenCV drops one channel's axis


def _pad(image: np.ndarray, pad_x: int, pad_y: int) -> np.ndarray:
    """``image`` with ``pad_x`` / ``pad_y`` zero columns / rows on each side (negative: that many cut)."""
    if pad_x < 0 or pad_y < 0:
        height, width = image.shape[:2]
        image = image[max(-pad_y, 0) : height - max(-pad_y, 0), max(-pad_x, 0) : width - max(-pad_x, 0)]
        pad_x, pad_y = max(pad_x, 0), max(pad_y, 0)
    if pad_x == pad_y == 0:
        return image
    padded = cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=0)
    return padded.reshape(padded.shape[:2] + image.shape[2:])


def _zero_border(image: np.ndarray) -> bool:
    """True when the outermost rows and columns of ``image`` are all 0."""
    return not (image[0].any() or image[-1].any() or image[:, 0].any() or image[:, -1].any())


def _warp_inside(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int], *, inverse: bool) -> np.ndarray:
    """``cv2.warpAffine`` (bilinear, 0 outside ``image``) of an ``image`` whose outermost pixels are 0. Output pixels
    whose taps reach past the image would read zeros only: left at 0 (OpenCV's transparent border) they are the
    same, without OpenCV's border path (a third of the warp's time on a rotated canvas)."""
    flags = cv2.INTER_LINEAR | (cv2.WARP_INVERSE_MAP if inverse else 0)
    if not _zero_border(image):
        return cv2.warpAffine(image, matrix, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out = np.zeros((size[1], size[0], *image.shape[2:]), image.dtype)
    cv2.warpAffine(image, matrix, size, dst=out, flags=flags, borderMode=cv2.BORDER_TRANSPARENT)
    return out


def blur_occluder(
    occluder: Occluder, params: CompositeParams, blur_xy: tuple[float, float], *, off_canvas: bool = False
) -> tuple[Occluder, CompositeParams]:
    """The cut-out blurred along the image-space displacement ``blur_xy`` and the params to place it with.

    Below a pixel of motion, or ``off_canvas`` (the frame does not show the occluder, blurred or not), both come
    back unchanged (the still's). Otherwise a cut-out placed smaller than its
    size is first shrunk to its placed size (area filter; the ratio folded into ``fit_scale``, the same
    placement) so the blur is as long as the motion in image pixels, not in the cut-out's (a blur
    several times longer cost most of a frame); the displacement is mapped back through the compositor's
    occluder matrix (rotation, shear), and the cut-out padded so the blur can spread past its edge (centre
    kept)."""
    if math.hypot(*blur_xy) < 1.0 or off_canvas:  # under a pixel, or not seen
        return occluder, params
    placed = params.fit_scale * params.scale
    if placed < 0.9:
        height, width = occluder.alpha.shape
        size = (max(round(width * placed), 1), max(round(height * placed), 1))
        alpha = np.clip(resize_image(occluder.alpha, size), 0.0, 1.0).astype(np.float32)
        occluder = Occluder(occluder.occluder_id, occluder.kind, resize_image(occluder.rgb, size), alpha)
        params = replace(params, fit_scale=params.fit_scale * width / size[0])
    linear = occluder_matrix(occluder.alpha.shape, params)[:, :2]
    local = np.linalg.solve(linear, np.asarray(blur_xy, np.float64))
    motion = (float(local[0]), float(local[1]))
    if math.hypot(*motion) < 1.0:
        return occluder, params
    # Room for the blur, per axis (a motion along x widens the cut-out only), the centre kept.
    pad_x, pad_y = math.ceil(abs(motion[0]) / 2) + 2, math.ceil(abs(motion[1]) / 2) + 2
    # Premultiplied colours and alpha, blurred together. Per-channel arithmetic: OpenCV's one-channel float ops
    # are several times faster than numpy's broadcasting or its own three-channel ops here.
    alpha = occluder.alpha
    colours = [cv2.multiply(channel.astype(np.float32), alpha) for channel in cv2.split(occluder.rgb)]
    stacked = line_blur(cv2.merge([*colours, alpha]), motion, (pad_x, pad_y))
    *premultiplied, blurred_alpha = cv2.split(stacked)
    # Colour = premultiplied / alpha; where the blurred alpha is 0, the cut-out's own colour, edges replicated
    # (the compositor's soft edge reads a pixel past the alpha): (premultiplied + e rgb) / (alpha + e) gives both.
    own = cv2.copyMakeBorder(occluder.rgb, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)
    weight = blurred_alpha + np.float32(_UNPREMULTIPLY_EPS)
    rgb_out = cv2.merge([
        cv2.convertScaleAbs(cv2.divide(cv2.scaleAdd(channel.astype(np.float32), _UNPREMULTIPLY_EPS, blurred), weight))
        for channel, blurred in zip(cv2.split(own), premultiplied, strict=True)
    ])  # fmt: skip
    alpha_out = np.clip(blurred_alpha, 0.0, 1.0)
    return Occluder(occluder.occluder_id, occluder.kind, rgb_out, alpha_out), params


def move_layer(rgb: np.ndarray, alpha: np.ndarray, shift_xy: tuple[float, float], blur_xy: tuple[float, float]
               ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A layer on the whole canvas (``rgb`` uint8 (H, W, 3), ``alpha`` float32 (H, W) in [0, 1]: FaceOcc's
    occluder in its aligned frame) moved by ``shift_xy`` px (bilinear) and blurred along ``blur_xy``
    (:func:`line_blur`), both on premultiplied colours so edges do not darken; pixels moved in from outside are
    transparent. Returned unchanged (the same arrays) when there is no shift and under a pixel of blur.

    Only the alpha's box is worked on (grown by the blur's reach): moved by the shift's whole pixels when it is put
    back, by its fraction with a warp, then blurred (the full canvas cost most of a frame)."""
    blurred = math.hypot(*blur_xy) >= 1.0
    if shift_xy == (0.0, 0.0) and not blurred:
        return rgb, alpha
    height, width = alpha.shape
    moved_rgb, moved_alpha = np.zeros_like(rgb), np.zeros((height, width), np.float32)
    found = mask_bbox(alpha)
    if found is None:
        return moved_rgb, moved_alpha
    top, left, bottom, right = found
    whole_x, whole_y = math.floor(shift_xy[0]), math.floor(shift_xy[1])
    fraction = (shift_xy[0] - whole_x, shift_xy[1] - whole_y)
    margin = math.ceil(math.hypot(*blur_xy) / 2) + 3  # the blur's half length, the fraction and bilinear reads
    out_top, out_left = top + whole_y - margin, left + whole_x - margin  # where the worked box lands
    rows = (max(out_top, 0), min(bottom + whole_y + margin, height))
    cols = (max(out_left, 0), min(right + whole_x + margin, width))
    if rows[0] >= rows[1] or cols[0] >= cols[1]:  # moved off the canvas
        return moved_rgb, moved_alpha
    box_h, box_w = bottom - top + 2 * margin, right - left + 2 * margin
    work: np.ndarray = np.zeros((box_h, box_w, 4), np.float32)
    inner = (slice(margin, box_h - margin), slice(margin, box_w - margin))
    source_alpha = alpha[top:bottom, left:right]
    work[inner[0], inner[1], :3] = rgb[top:bottom, left:right].astype(np.float32) * source_alpha[:, :, None]
    work[inner[0], inner[1], 3] = source_alpha
    if fraction != (0.0, 0.0):
        shift = np.array([[1.0, 0.0, fraction[0]], [0.0, 1.0, fraction[1]]], np.float64)
        work = cv2.warpAffine(work, shift, (box_w, box_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0)  # fmt: skip
    if blurred:
        work = line_blur(work, blur_xy)
    window = work[rows[0] - out_top : rows[1] - out_top, cols[0] - out_left : cols[1] - out_left]
    window_alpha = np.clip(window[:, :, 3], 0.0, 1.0).astype(np.float32)
    colour = window[:, :, :3] / np.maximum(window[:, :, 3], 1e-6)[:, :, None]
    colour = np.where(window_alpha[:, :, None] > 1e-6, colour, 0.0)
    moved_rgb[rows[0] : rows[1], cols[0] : cols[1]] = np.clip(colour + 0.5, 0, 255).astype(np.uint8)
    moved_alpha[rows[0] : rows[1], cols[0] : cols[1]] = window_alpha
    return moved_rgb, moved_alpha
