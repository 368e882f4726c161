"""Issue 29's faster SOT and lab-stats give the plain computations' results bit for bit: each reference below is
the straightforward code they replaced (whole crop, numpy's own reductions, one broadcast per update)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from occgen.appearance.harmonise import LAB_ROW_ALIGN_PX, LabStatsHarmoniser, alpha_box, blend_by_alpha
from occgen.appearance.sot import SOTConfig, SOTMap, directions, fit_sot, preprocess_source


def lab_stats_whole_crop(harmoniser: LabStatsHarmoniser, image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The lab-stats harmoniser computed on its whole crop with numpy's mean and std."""
    box = alpha_box(alpha)
    if box is None:
        return image.copy()
    ring_px = max(int(round(harmoniser.ring_frac * max(box[2] - box[0], box[3] - box[1]))), 3)
    height, width = image.shape[:2]
    x0, y0 = max(box[0] - ring_px, 0), max(box[1] - ring_px, 0)
    x1, y1 = min(box[2] + ring_px, width), min(box[3] + ring_px, height)
    crop, crop_alpha = image[y0:y1, x0:x1], alpha[y0:y1, x0:x1]
    footprint = crop_alpha >= harmoniser.footprint_threshold
    touched = (crop_alpha > 0).astype(np.uint8)
    ring = (cv2.distanceTransform(1 - touched, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= ring_px) & (touched == 0)
    if not footprint.any() or not ring.any():
        return image.copy()
    lab = cv2.cvtColor(crop.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    mean_fg, std_fg = lab[footprint].mean(axis=0), lab[footprint].std(axis=0)
    mean_bg, std_bg = lab[ring].mean(axis=0), lab[ring].std(axis=0)
    ratio = np.clip((std_bg + 1e-3) / (std_fg + 1e-3), *harmoniser.std_ratio_range) ** harmoniser.strength
    moved = (lab - mean_fg) * ratio + (mean_fg + harmoniser.strength * (mean_bg - mean_fg))
    moved[..., 0] = np.clip(moved[..., 0], 0.0, 100.0)
    changed = np.clip(np.round(cv2.cvtColor(moved.astype(np.float32), cv2.COLOR_LAB2RGB) * 255.0), 0, 255)
    out = image.copy()
    out[y0:y1, x0:x1] = blend_by_alpha(crop, changed.astype(np.uint8), crop_alpha)
    return out


@pytest.mark.parametrize("strength", [0.5, 1.0])
def test_lab_stats_equals_the_whole_crop_computation(strength: float) -> None:
    rng = np.random.default_rng(int(strength * 10))
    harmoniser = LabStatsHarmoniser(strength=strength)
    changed = 0
    for _ in range(40):
        height, width = (int(v) for v in rng.integers(40, 260, 2))
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        alpha = np.zeros((height, width), np.float32)
        centre = (int(rng.integers(-10, width + 10)), int(rng.integers(-10, height + 10)))  # at and past the borders
        axes = (int(rng.integers(3, width)), int(rng.integers(3, height)))
        cv2.ellipse(alpha, centre, axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.4, 1.0)), -1)
        alpha = np.clip(cv2.GaussianBlur(alpha, (5, 5), 0), 0.0, 1.0)
        expected = lab_stats_whole_crop(harmoniser, image, alpha)
        result = harmoniser.apply(image, alpha)
        assert result.dtype == np.uint8 and np.array_equal(result, expected)
        changed += int(not np.array_equal(result, image))
    assert changed > 30  # the cases do harmonise (not all skipped)


def test_lab_to_rgb_from_an_aligned_column_to_the_row_end_is_bit_identical() -> None:
    """What the harmoniser relies on: OpenCV converts float Lab to RGB row by row, so a crop keeping the rows' ends
    and starting LAB_ROW_ALIGN_PX-aligned converts its pixels exactly as the whole does (an unaligned start need not:
    the vector body and scalar tail differ in the last bits, which is why the alignment is there)."""
    rng = np.random.default_rng(11)
    for _ in range(60):
        height, width = (int(v) for v in rng.integers(8, 400, 2))
        lab = cv2.cvtColor(rng.random((height, width, 3), dtype=np.float32), cv2.COLOR_RGB2LAB) * np.float32(1.2)
        lab[..., 0] = np.clip(lab[..., 0], 0, 100)
        whole = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
        top, bottom = sorted(int(v) for v in rng.integers(0, height, 2))
        left = int(rng.integers(0, width)) // LAB_ROW_ALIGN_PX * LAB_ROW_ALIGN_PX
        part = cv2.cvtColor(np.ascontiguousarray(lab[top : bottom + 1, left:]), cv2.COLOR_LAB2RGB)
        assert np.array_equal(part, whole[top : bottom + 1, left:])


def fit_plain(source: np.ndarray, target: np.ndarray, dirs: np.ndarray, nodes: int = 1024) -> SOTMap:
    """fit_sot as first written: one broadcast update per round."""
    moving, source, dirs = target.astype(np.float32), source.astype(np.float32), dirs.astype(np.float32)
    count = len(moving)
    levels = np.clip((np.arange(count) + 0.5) / count * len(source) - 0.5, 0, len(source) - 1)
    lower = np.minimum(levels.astype(np.int64), len(source) - 1)
    upper = np.minimum(lower + 1, len(source) - 1)
    weight = (levels - lower).astype(np.float32)
    starts, steps = np.empty(dirs.shape[:2], np.float32), np.empty(dirs.shape[:2], np.float32)
    tables = np.empty((*dirs.shape[:2], nodes), np.float32)
    for i in range(dirs.shape[0]):
        for p in range(dirs.shape[1]):
            proj = moving @ dirs[i, p]
            order = np.argsort(proj)
            sorted_proj = proj[order]
            sorted_source = np.sort(source @ dirs[i, p])
            matched = sorted_source[lower] * (1 - weight) + sorted_source[upper] * weight
            low, high = float(sorted_proj[0]), float(sorted_proj[-1])
            step = max((high - low) / (nodes - 1), 1e-6)
            starts[i, p], steps[i, p] = low, step
            tables[i, p] = np.interp(low + step * np.arange(nodes), sorted_proj, matched)
            displacement = np.empty(count, np.float32)
            displacement[order] = matched - sorted_proj
            moving += displacement[:, None] * dirs[i, p][None, :]
    return SOTMap(dirs, starts, steps, tables)


def apply_plain(fitted: SOTMap, points: np.ndarray) -> np.ndarray:
    out = points.astype(np.float32, copy=True)
    nodes = fitted.table.shape[2]
    for i in range(fitted.directions.shape[0]):
        for p in range(fitted.directions.shape[1]):
            direction = fitted.directions[i, p]
            proj = out @ direction
            position = np.clip((proj - fitted.start[i, p]) / fitted.step[i, p], 0, nodes - 1)
            lower = np.minimum(position.astype(np.int32), nodes - 2)
            weight = position - lower
            moved = fitted.table[i, p][lower] * (1 - weight) + fitted.table[i, p][lower + 1] * weight
            out += (moved - proj)[:, None] * direction[None, :]
    return out


@pytest.mark.parametrize(("sources", "targets"), [(4096, 4096), (3000, 4096), (4096, 700)])
def test_sot_fit_and_map_equal_the_plain_loops(sources: int, targets: int) -> None:
    rng = np.random.default_rng(sources + targets)
    source = rng.uniform(0, 255, (sources, 3))
    target = np.round(rng.uniform(30, 200, (targets, 3)), 1)  # coarse values: equal projections occur
    dirs = directions(5, 4, 5)
    fitted, plain = fit_sot(source, target, dirs), fit_plain(source, target, dirs)
    for name in ("directions", "start", "step", "table"):
        assert np.array_equal(getattr(fitted, name), getattr(plain, name)), name
    grid = rng.uniform(0, 255, (900, 3))
    assert np.array_equal(fitted.apply(grid), apply_plain(plain, grid))


def test_preprocess_equals_numpy_reductions() -> None:
    rng = np.random.default_rng(2)
    config = SOTConfig()
    for _ in range(20):
        source = rng.integers(0, 256, (int(rng.integers(100, 16384)), 3)).astype(np.float64)
        source[: len(source) // 5] *= 0.1  # a dark share to balance
        target = rng.uniform(20, 255, (int(rng.integers(100, 16384)), 3))
        out = source.copy()
        dark = np.all(out < config.dark_frac * out.mean(axis=0), axis=1)
        target_dark = np.all(target < config.dark_frac * target.mean(axis=0), axis=1)
        if dark.mean() > target_dark.mean() and not dark.all():
            excess = int(round((dark.mean() - target_dark.mean()) * len(out)))
            index = np.nonzero(dark)[0]
            out[index[np.argsort(out[index].sum(axis=1), kind="stable")[:excess]]] = out[~dark].mean(axis=0)
        expected = np.minimum(out, out.mean(axis=0) + config.clip_std * out.std(axis=0))
        assert np.array_equal(preprocess_source(source, target, config), expected)
