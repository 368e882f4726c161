"""Colour transfer by iterative sliced optimal transport (SOT), with the NatOcc paper's preprocess.

NatOcc paper, section 3.2 and Algorithm 1 (colour transfer via SOT, Bonneel & Coeurjolly): the hand's
colours are moved onto the distribution of the face's colours. Here *source* is the set of face pixels
(the palette to take) and *target* the hand pixels (the pixels that change), as in the paper.

Preprocess of the source (Algorithm 1; the paper gives no numbers, ours are parameters):
1. a pixel is *dark* when every channel is below ``dark_frac`` x that channel's mean;
2. if the source has a larger share of dark pixels than the target, the excess share of dark source
   pixels is replaced by the mean colour of the non-dark source pixels (otherwise part of the hand
   turns black: eyes, brows and nostrils have no counterpart on a hand);
3. highlights are clipped at mean + ``clip_std`` x std per channel (the authors use 1 std).

Then ``iterations`` rounds of SOT: each round draws ``projections`` random directions in RGB; along each
direction in turn, the sorted projections of the moving hand colours are matched to the face's
quantiles and every colour moves by its 1-D displacement (an exact 1-D transport per direction, applied
one after another, which converges in fewer rounds than averaging the directions' moves).

Speed: the map depends only on colour, so it is fitted on a strided subsample of ``fit_pixels`` of each
set, and the whole hand is pushed through the same 1-D maps via a ``lut_size``³ lookup table spanning
the hand's colour box (trilinear interpolation).

Grain. A per-colour map fitted on a narrow source distribution (a flat hand) has steep stretches that
amplify pixel noise into speckle: on the demo hands the high-frequency energy inside the hand was a
median 5x (up to 34x) that of the hand without transfer. Two steps keep the hand's own detail:

1. the map is fitted on, and applied to, the hand's *base layer*: an alpha-normalised Gaussian of sigma
   ``base_sigma_frac`` x the hand's longest side. The hand's detail (hand - base: pores, creases, sensor
   noise) never goes through the map, so the map cannot stretch it;
2. the colour *shift* (mapped base - base) is smoothed over the hand by an alpha-normalised Gaussian of
   sigma ``shift_sigma_frac`` x the longest side before it is added to the hand (a steep map can still
   sharpen the base's own edges).

Both sigmas are fractions of the cut-out, so the look is the same at any size. Measured with
``benchmarks/bench_sot_grain.py`` (48 demo samples, seed 5; grain = transfer / no transfer, median; SW = the
hand's sliced Wasserstein colour distance to the face, no transfer = 61.8 at 512², 60.8 at 256²):

============================  =================  =================
setting                       512²: grain / SW   256²: grain / SW
============================  =================  =================
per-pixel map (both 0)        3.58 / 13.2        2.34 / 16.4
shift smoothed 0.05 (0.4.x)   0.97 / 17.1        0.91 / 18.0
base 0.03 + shift 0.01 (now)  1.05 / 11.8        1.16 / 14.4
============================  =================  =================

so the hand keeps its grain (<= 1.3x) *and* matches the face's colours better than the per-pixel map. The
NatOcc authors' code smooths the shift with a 61x61 Gaussian of sigma 30 px at their crop size (about our
0.05); ``base_sigma_frac: 0`` with ``shift_sigma_frac: 0.05`` gives occgen 0.4's transfer exactly.

Sample-then-apply: :func:`sample_sot` draws the seed of the projection directions; :func:`transfer_colours`
is deterministic given it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import cv2
import numpy as np

from occgen.core.arrays import check_alpha, check_image, check_mask, check_same_size
from occgen.core.errors import ArrayContractError, ConfigError
from occgen.core.numeric import column_mean_std, column_means, column_min_max

CHANNELS = 3
SOT_DEVICES = ("numpy", "torch", "cuda")


@dataclass(frozen=True, kw_only=True)
class SOTConfig:
    """SOT colour-transfer parameters (``params.yaml`` section ``natocc``, key ``sot``)."""

    iterations: int = 15  # NatOcc authors: 15 iterations x 5 projections
    projections: int = 5
    fit_pixels: int = 4096  # pixels of each set the map is fitted on (strided subsample)
    lut_size: int = 17  # lookup-table nodes per channel over the hand's colour box
    preprocess: bool = True  # Algorithm 1's dark-pixel balance and highlight clip
    dark_frac: float = 0.35
    clip_std: float = 1.0
    # Sigma of the base layer the map is fitted on and applied to, x the hand's longest side (0 = the raw
    # colours, as occgen 0.4 did); the hand's detail (hand - base) never goes through the map.
    base_sigma_frac: float = 0.03
    # Sigma of the Gaussian smoothing the colour shift, x the hand's longest side (0 = unsmoothed).
    shift_sigma_frac: float = 0.01
    min_pixels: int = 64  # fewer face or hand pixels than this: no transfer (recorded)
    # numpy: the CPU default (the fit is small: fit_pixels x iterations x projections). torch / cuda: the same
    # iterations in torch, on the CPU or on a GPU when one is present (never required).
    device: str = "numpy"

    def __post_init__(self) -> None:
        if self.device not in SOT_DEVICES:
            raise ConfigError(f"sot.device must be one of {', '.join(SOT_DEVICES)}, got {self.device!r}")
        for name in ("iterations", "projections", "fit_pixels", "min_pixels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"sot.{name} must be >= 1, got {getattr(self, name)}")
        if not 2 <= self.lut_size <= 129:
            raise ConfigError(f"sot.lut_size must be in [2, 129], got {self.lut_size}")
        if not 0.0 <= self.dark_frac < 1.0:
            raise ConfigError(f"sot.dark_frac must be in [0, 1), got {self.dark_frac}")
        if self.clip_std <= 0 or not 0.0 <= self.shift_sigma_frac <= 1.0 or not 0.0 <= self.base_sigma_frac <= 1.0:
            raise ConfigError("sot.clip_std must be > 0, sot.shift_sigma_frac and sot.base_sigma_frac in [0, 1]")


@dataclass(frozen=True, kw_only=True)
class SOTParams:
    """The random part of one transfer: the seed of its projection directions."""

    direction_seed: int


def sample_sot(*, rng: np.random.Generator) -> SOTParams:
    return SOTParams(direction_seed=int(rng.integers(2**31)))


def directions(seed: int, iterations: int, projections: int) -> np.ndarray:
    """``float64 (iterations, projections, 3)`` unit vectors, uniform on the sphere."""
    vectors = np.random.default_rng(seed).normal(size=(iterations, projections, CHANNELS))
    return vectors / np.linalg.norm(vectors, axis=2, keepdims=True)


def _check_points(points: np.ndarray, name: str) -> None:
    if points.ndim != 2 or points.shape[1] != CHANNELS or points.shape[0] == 0:
        raise ArrayContractError(f"{name}: expected (N, 3) colours with N >= 1, got {points.shape}")


def dark_pixels(points: np.ndarray, dark_frac: float) -> np.ndarray:
    """Boolean (N,): every channel below ``dark_frac`` x the channel's mean."""
    below = points < dark_frac * column_means(points)
    return below[:, 0] & below[:, 1] & below[:, 2] if below.shape[1] == CHANNELS else np.asarray(below.all(axis=1))


def preprocess_source(source: np.ndarray, target: np.ndarray, config: SOTConfig) -> np.ndarray:
    """Algorithm 1's preprocess of the ``source`` colours ``(N, 3)`` against the ``target`` ``(M, 3)``.

    Returns a new float64 array; deterministic (the replaced dark pixels are the darkest ones).
    """
    _check_points(source, "source colours")
    _check_points(target, "target colours")
    out = source.astype(np.float64, copy=True)
    dark = dark_pixels(out, config.dark_frac)
    dark_count = np.count_nonzero(dark)
    source_share = dark_count / len(dark)  # dark.mean(): the count of an exact float sum, divided alike
    target_share = np.count_nonzero(dark_pixels(target.astype(np.float64), config.dark_frac)) / len(target)
    if source_share > target_share and dark_count < len(dark):
        excess = int(round((source_share - target_share) * len(out)))
        dark_index = np.nonzero(dark)[0]
        darkest = dark_index[np.argsort(out[dark_index].sum(axis=1), kind="stable")[:excess]]
        out[darkest] = column_means(out[~dark])
    mean, std = column_mean_std(out)  # out.mean(axis=0), out.std(axis=0), bit for bit (occgen.core.numeric)
    return np.minimum(out, mean + config.clip_std * std)


def _subsample(points: np.ndarray, count: int) -> np.ndarray:
    if len(points) <= count:
        return points
    return points[np.linspace(0, len(points) - 1, count).astype(np.int64)]


@dataclass(frozen=True)
class SOTMap:
    """The fitted transport. Per round ``i`` and projection ``p`` a monotone 1-D map along
    ``directions[i, p]``, tabulated at ``table.shape[2]`` evenly spaced projection values from
    ``start[i, p]`` in steps of ``step[i, p]`` (constant beyond both ends), so that evaluating it is
    index arithmetic rather than a search."""

    directions: np.ndarray  # (I, P, 3) float32
    start: np.ndarray  # (I, P) float32
    step: np.ndarray  # (I, P) float32
    table: np.ndarray  # (I, P, U) float32

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Push colours ``(N, 3)`` through every round; returns a new float32 array."""
        out = points.astype(np.float32, copy=True)
        iterations, projections, _ = self.directions.shape
        nodes = self.table.shape[2]
        for i in range(iterations):
            for p in range(projections):
                direction = self.directions[i, p]
                proj = out @ direction
                position = np.subtract(proj, self.start[i, p])
                position /= self.step[i, p]
                position = np.minimum(np.maximum(position, 0, out=position), nodes - 1, out=position)  # np.clip
                lower = np.minimum(position.astype(np.int32), nodes - 2)
                weight = position - lower  # float64 (float32 - int32), as are moved and the move below
                table = self.table[i, p]
                moved = table[lower] * (1 - weight) + table[lower + 1] * weight
                moved -= proj
                out += moved[:, None] * direction[None, :]
        return out


def fit_sot(source: np.ndarray, target: np.ndarray, dirs: np.ndarray, nodes: int = 1024) -> SOTMap:
    """Fit iterative SOT moving ``target`` colours ``(M, 3)`` onto ``source`` colours ``(N, 3)``.

    Each round moves the (subsampled) target points themselves; the 1-D maps are kept as tables of
    ``nodes`` values (see :class:`SOTMap`) for pushing any other colours through the same rounds.
    """
    _check_points(source, "source colours")
    _check_points(target, "target colours")
    moving = target.astype(np.float32, copy=True)
    source = source.astype(np.float32, copy=False)
    dirs = dirs.astype(np.float32)
    count = len(moving)
    # The moving point of rank r meets the source quantile (r + 0.5) / count: linear between two ranks.
    levels = np.clip((np.arange(count) + 0.5) / count * len(source) - 0.5, 0, len(source) - 1)
    lower = np.minimum(levels.astype(np.int64), len(source) - 1)
    upper = np.minimum(lower + 1, len(source) - 1)
    weight = (levels - lower).astype(np.float32)
    keep = 1 - weight  # the same in every round
    every = bool(np.array_equal(lower, np.arange(count)))  # as many points as source colours: no gather needed
    iterations, projections, _ = dirs.shape
    starts = np.empty((iterations, projections), np.float32)
    steps = np.empty((iterations, projections), np.float32)
    tables = np.empty((iterations, projections, nodes), np.float32)
    grid = np.arange(nodes, dtype=np.float64)  # exact integers: step * grid == step * np.arange(nodes)
    displacement = np.empty(count, np.float32)  # every entry rewritten each round (order is a permutation)
    move = np.empty(count, np.float32)
    for i in range(iterations):
        for p in range(projections):
            direction = dirs[i, p]
            proj = moving @ direction
            order = np.argsort(proj)  # (equal projections are common in float32: their order is np.argsort's)
            sorted_proj = proj[order]
            sorted_source = np.sort(source @ direction)
            matched = (sorted_source if every else sorted_source[lower]) * keep + sorted_source[upper] * weight
            low, high = float(sorted_proj[0]), float(sorted_proj[-1])
            step = max((high - low) / (nodes - 1), 1e-6)
            starts[i, p], steps[i, p] = low, step
            tables[i, p] = np.interp(low + step * grid, sorted_proj, matched)
            displacement[order] = matched - sorted_proj
            for channel in range(CHANNELS):  # moving += displacement[:, None] * direction: the same products, faster
                moving[:, channel] += np.multiply(displacement, direction[channel], out=move)
    return SOTMap(dirs, starts, steps, tables)


def fit_sot_torch(
    source: np.ndarray, target: np.ndarray, dirs: np.ndarray, nodes: int = 1024, device: str = "cpu"
) -> SOTMap:
    """:func:`fit_sot` computed with torch on ``device`` ("cpu" or "cuda"); returns the same numpy map.

    The same rounds in the same order; sorting ties and float32 reductions may differ in the last bits.
    """
    import torch

    from occgen.core.errors import OccgenError

    if device == "cuda" and not torch.cuda.is_available():
        raise OccgenError("sot.device is cuda but no CUDA device is available; use numpy (the CPU default)")
    _check_points(source, "source colours")
    _check_points(target, "target colours")
    on = torch.device(device)
    moving = torch.as_tensor(target, dtype=torch.float32, device=on).clone()
    source_t = torch.as_tensor(source, dtype=torch.float32, device=on)
    dirs_t = torch.as_tensor(dirs, dtype=torch.float32, device=on)
    count, length = len(moving), len(source_t)
    levels = torch.clamp((torch.arange(count, device=on, dtype=torch.float64) + 0.5) / count * length - 0.5, 0,
                         length - 1)  # fmt: skip
    lower = torch.clamp(levels.to(torch.int64), max=length - 1)
    upper = torch.clamp(lower + 1, max=length - 1)
    weight = (levels - lower).to(torch.float32)
    iterations, projections, _ = dirs.shape
    starts = np.empty((iterations, projections), np.float32)
    steps = np.empty((iterations, projections), np.float32)
    tables = np.empty((iterations, projections, nodes), np.float32)
    grid = torch.arange(nodes, device=on, dtype=torch.float32)
    for i in range(iterations):
        for j in range(projections):
            direction = dirs_t[i, j]
            proj = moving @ direction
            sorted_proj, order = torch.sort(proj)
            sorted_source, _ = torch.sort(source_t @ direction)
            matched = sorted_source[lower] * (1 - weight) + sorted_source[upper] * weight
            low, high = float(sorted_proj[0]), float(sorted_proj[-1])
            step = max((high - low) / (nodes - 1), 1e-6)
            starts[i, j], steps[i, j] = low, step
            tables[i, j] = _interp_torch(low + step * grid, sorted_proj, matched).cpu().numpy()
            displacement = torch.empty_like(proj)
            displacement[order] = matched - sorted_proj
            moving += displacement[:, None] * direction[None, :]
    return SOTMap(dirs.astype(np.float32), starts, steps, tables)


def _interp_torch(x: Any, xp: Any, fp: Any) -> Any:
    """``numpy.interp`` for sorted ``xp`` in torch (constant beyond the ends)."""
    import torch

    index = torch.clamp(torch.searchsorted(xp, x), 1, len(xp) - 1)
    x0, x1, y0, y1 = xp[index - 1], xp[index], fp[index - 1], fp[index]
    t = torch.where(x1 > x0, (x - x0) / torch.clamp(x1 - x0, min=1e-12), torch.zeros_like(x))
    out = y0 + t * (y1 - y0)
    out = torch.where(x <= xp[0], fp[0], out)
    return torch.where(x >= xp[-1], fp[-1], out)


def _lut_apply(scaled: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Trilinear lookup in ``lut`` ``(L, L, L, 3)`` at float32 positions ``scaled`` ``(N, 3)`` in [0, L-1].

    The table is laid out as one image of the L slices stacked (rows ``r * L + g``, columns ``b``), so a
    lookup is two bilinear ``cv2.remap`` calls (slices ``floor(r)`` and ``floor(r) + 1``) and a blend:
    several times faster than eight numpy gathers. OpenCV quantises the bilinear weights to 1/32 of a
    cell: at most about 0.3 of a level for the smooth tables SOT makes.
    """
    size = lut.shape[0]
    count = len(scaled)
    width = 1024  # remap maps are images: keep both sides well below OpenCV's 32767 limit
    rows = -(-count // width)
    padded = np.zeros((rows * width, 3), np.float32)
    padded[:count] = scaled
    red, green, blue = (padded[:, c].reshape(rows, width) for c in range(CHANNELS))
    red_low = np.minimum(np.floor(red), size - 2)
    red_frac = (red - red_low)[:, :, None]
    image = np.ascontiguousarray(lut.reshape(size * size, size, CHANNELS), dtype=np.float32)
    map_y = red_low * size + green
    first = cv2.remap(image, blue, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    second = cv2.remap(image, blue, map_y + size, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out = first * (1.0 - red_frac) + second * red_frac
    return out.reshape(-1, CHANNELS)[:count]


def _used_nodes(scaled: np.ndarray, size: int) -> np.ndarray:
    """Boolean ``(L**3,)``: the table nodes that trilinear lookups at ``scaled`` read (the corners of the
    occupied cells). Skin colours fill a thin slab of the RGB box, so most nodes are never read."""
    cell = np.minimum(scaled.astype(np.int32), size - 2)
    low_corner = (cell[:, 0] * size + cell[:, 1]) * size + cell[:, 2]
    occupied = np.zeros(size**3, bool)
    occupied[low_corner] = True
    corners = np.nonzero(occupied)[0]
    used = occupied.copy()
    for offset in (1, size, size + 1, size * size, size * size + 1, size * size + size, size * size + size + 1):
        used[corners + offset] = True
    return used


def transfer_colours(
    hand_rgb: np.ndarray,
    hand_alpha: np.ndarray,
    face_rgb: np.ndarray,
    face_mask: np.ndarray,
    config: SOTConfig,
    params: SOTParams,
) -> np.ndarray | None:
    """The hand's colours moved onto the face's: a new ``uint8 (h, w, 3)``, or ``None`` when either the
    face mask or the hand (alpha >= 0.5) has fewer than ``config.min_pixels`` pixels.

    Only pixels with alpha > 0 change. Inputs are never modified.
    """
    check_image(hand_rgb, "hand rgb")
    check_alpha(hand_alpha, "hand alpha")
    check_same_size(hand_rgb, hand_alpha, "hand rgb", "hand alpha")
    check_image(face_rgb, "face image")
    check_mask(face_mask, "face mask")
    check_same_size(face_rgb, face_mask, "face image", "face mask")
    face_pixels = np.flatnonzero(face_mask)  # the rows face_rgb[face_mask.astype(bool)] would gather, in order
    solid = hand_alpha >= 0.5
    if len(face_pixels) < config.min_pixels or np.count_nonzero(solid) < config.min_pixels:
        return None
    longest = max(hand_alpha.shape)
    # The colours that go through the map: the hand's base layer, or (base_sigma_frac 0) its raw colours.
    base = base_layer(hand_rgb, hand_alpha, config.base_sigma_frac * longest) if config.base_sigma_frac > 0 else None
    # The preprocess needs no more than a few times the fitted pixels.
    source = face_rgb.reshape(-1, CHANNELS)[_subsample(face_pixels, config.fit_pixels * 4)].astype(np.float64)
    target = _subsample((hand_rgb if base is None else base)[solid], config.fit_pixels * 4).astype(np.float64)
    if config.preprocess:
        source = preprocess_source(source, target, config)
    # Dequantise: a uint8 colour stands for a unit interval. Without this, the many pixels sharing a colour
    # all get one destination and the transfer stalls short of the face's distribution. (The base layer is
    # already continuous: it gets none.)
    noise = np.random.default_rng([params.direction_seed, 1])
    source = _subsample(source, config.fit_pixels)
    target = _subsample(target, config.fit_pixels)
    fit = (
        fit_sot
        if config.device == "numpy"
        else partial(fit_sot_torch, device="cpu" if config.device == "torch" else "cuda")
    )
    source = source + noise.uniform(-0.5, 0.5, source.shape)
    if base is None:
        target = target + noise.uniform(-0.5, 0.5, target.shape)
    fitted = fit(source, target, directions(params.direction_seed, config.iterations, config.projections))
    visible = hand_alpha > 0
    if base is None:
        raw = hand_rgb[visible]
        colours = raw.astype(np.float32) + (noise.random(raw.shape, dtype=np.float32) - np.float32(0.5))
        smallest, largest = column_min_max(raw)
    else:
        colours = base[visible]
        smallest, largest = column_min_max(colours)
    low = smallest.astype(np.float64) - 0.5
    high = largest.astype(np.float64) + 0.5
    size = config.lut_size
    scale = ((size - 1) / (high - low)).astype(np.float32)
    scaled = np.clip((colours - low.astype(np.float32)) * scale, 0, size - 1)
    # Push only the table nodes that will be read through the fitted maps.
    axes = [np.linspace(low[c], high[c], size) for c in range(CHANNELS)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, CHANNELS)
    used = _used_nodes(scaled, size)
    lut = np.zeros((size**3, CHANNELS), np.float32)
    lut[used] = fitted.apply(grid[used])
    moved = _lut_apply(scaled, lut.reshape(size, size, size, CHANNELS))
    if config.shift_sigma_frac <= 0 and base is None:
        out = hand_rgb.copy()
        out[visible] = np.clip(moved + 0.5, 0, 255).astype(np.uint8)
        return out
    shift = np.zeros(hand_rgb.shape, np.float32)
    shift[visible] = moved - (hand_rgb[visible] if base is None else colours)
    shift = smooth_shift(shift, hand_alpha.astype(np.float32), config.shift_sigma_frac * longest)
    shift[~visible] = 0.0
    return np.clip(hand_rgb.astype(np.float32) + shift + 0.5, 0, 255).astype(np.uint8)


def base_layer(rgb: np.ndarray, alpha: np.ndarray, sigma_px: float) -> np.ndarray:
    """``float32 (h, w, 3)``: ``rgb`` blurred by a Gaussian of ``sigma_px`` normalised by the blurred ``alpha``,
    so that the background around a cut-out does not bleed into its edge colours."""
    weight = alpha.astype(np.float32)
    if sigma_px < 0.3:
        return rgb.astype(np.float32)
    weighted = cv2.GaussianBlur(rgb.astype(np.float32) * weight[:, :, None], (0, 0), sigma_px)
    norm = cv2.GaussianBlur(weight, (0, 0), sigma_px)
    return weighted / np.maximum(norm, 1e-6)[:, :, None]


def smooth_shift(shift: np.ndarray, weight: np.ndarray, sigma_px: float) -> np.ndarray:
    """``shift`` ``float32 (h, w, 3)`` blurred by a Gaussian of ``sigma_px``, normalised by the blurred
    ``weight`` ``float32 (h, w)`` (alpha): pixels outside the hand neither pull the shift toward zero nor
    count. The blur runs on an area-downscaled copy (sigma about 4 px there) and is scaled back up
    bilinearly: the result is smooth at that scale, so nothing is lost, and it costs the same at any size."""
    if sigma_px < 0.5:
        return shift
    height, width = weight.shape
    factor = max(1.0, sigma_px / 4.0)
    small = (max(round(width / factor), 1), max(round(height / factor), 1))
    weighted = cv2.resize(shift * weight[:, :, None], small, interpolation=cv2.INTER_AREA)
    norm = cv2.resize(weight, small, interpolation=cv2.INTER_AREA)
    sigma = sigma_px * small[0] / width
    weighted = cv2.GaussianBlur(weighted.reshape(small[1], small[0], 3), (0, 0), sigma)
    norm = cv2.GaussianBlur(norm.reshape(small[1], small[0]), (0, 0), sigma)
    smoothed = weighted / np.maximum(norm, 1e-6)[:, :, None]
    return cv2.resize(smoothed, (width, height), interpolation=cv2.INTER_LINEAR).reshape(height, width, 3)


def grain(image: np.ndarray, region: np.ndarray) -> float:
    """High-frequency energy of ``image`` (uint8 (H, W, 3)) in ``region`` (bool (H, W)): the mean of
    |I - 3x3 box blur of I| on grey over the region's pixels (issue 12's speckle measure)."""
    check_image(image, "image")
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    detail = np.abs(grey - cv2.blur(grey, (3, 3)))
    return float(detail[region.astype(bool)].mean()) if region.any() else 0.0
