"""The compositor works in the occluder's box (occgen/compose.py): its results equal the whole-frame
computation bit for bit, on seeded random cases (placements at the borders, partly and wholly outside the
image, every erode / blur / seam size, translucent and augmented occluders)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from occgen.compose import (
    Composite,
    CompositeConfig,
    CompositeParams,
    _odd,
    apply_composite,
    apply_photometric,
    occluder_box,
    occluder_matrix,
    sample_composite,
    soften_alpha,
)
from occgen.core.geometry import box_slices, grow_box, mask_bbox
from occgen.sources.occluder import Occluder


def whole_frame_composite(
    image: np.ndarray, face_mask: np.ndarray, occluder: Occluder, params: CompositeParams
) -> Composite:
    """The compositor as it was before the box (every filter and label over the whole frame): the reference."""
    height, width = face_mask.shape
    rgb = apply_photometric(occluder.rgb, params)
    matrix = occluder_matrix(occluder.alpha.shape, params)
    warped_rgb = cv2.warpAffine(rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    warped_alpha = cv2.warpAffine(occluder.alpha, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip
    shape_alpha = soften_alpha(np.clip(warped_alpha, 0.0, 1.0), params.alpha_erode_px, params.alpha_blur_px,
                               params.alpha_blur_sigma_px)  # fmt: skip
    blend_alpha = shape_alpha * np.float32(params.opacity)
    out_image = image.copy()
    margin = params.seam_width_px + params.seam_blur_px + 1
    found = mask_bbox(blend_alpha > 0)
    footprint = shape_alpha >= params.footprint_threshold
    if found is not None:
        region = box_slices(grow_box(found, margin, blend_alpha.shape))
        alpha_region = blend_alpha[region][:, :, None]
        blended = alpha_region * warped_rgb[region].astype(np.float32) + (1.0 - alpha_region) * image[region]
        out_region = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        if params.seam_blur_px > 1 and params.seam_width_px > 0:
            kernel = np.ones((2 * params.seam_width_px + 1,) * 2, np.uint8)
            edge = (shape_alpha[region] > 0.5).astype(np.uint8)
            band = (cv2.dilate(edge, kernel) - cv2.erode(edge, kernel)).astype(bool)
            if band.any():
                seam = cv2.GaussianBlur(out_region, (_odd(params.seam_blur_px),) * 2, params.seam_blur_sigma_px)
                out_region[band] = seam[band]
        out_image[region] = out_region
    visible_face = (face_mask.astype(bool) & ~footprint).astype(np.uint8)
    occluder_mask = np.clip(blend_alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Composite(out_image, visible_face, occluder_mask, footprint)


def random_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, Occluder, CompositeParams]:
    size = int(rng.choice([48, 64, 97, 128, 256]))
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    face_mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(face_mask, (size // 2, size // 2), (size // 3, size * 2 // 5), 0, 0, 360, 1, -1)
    h, w = int(rng.integers(4, size)), int(rng.integers(4, size))
    alpha = (rng.random((h, w)) * (rng.random() < 0.5) + (rng.random((h, w)) > 0.3)).clip(0, 1).astype(np.float32)
    occluder = Occluder("case", "test", rng.integers(0, 256, (h, w, 3), dtype=np.uint8), alpha)
    config = CompositeConfig(alpha_erode_px=int(rng.integers(0, 8)), alpha_blur_px=int(rng.integers(0, 12)),
                             seam_blur_px=int(rng.integers(0, 8)), seam_width_px=int(rng.integers(0, 5)))  # fmt: skip
    params = sample_composite(rng=rng, config=config, face_mask=face_mask, occluder_shape=alpha.shape,
                              opacity=float(rng.choice([1.0, rng.uniform(0.2, 0.9)])))  # fmt: skip
    # Centres anywhere, including at and beyond the image's edges.
    centre = (float(rng.uniform(-0.4, 1.4) * size), float(rng.uniform(-0.4, 1.4) * size))
    params = CompositeParams(**{**params.__dict__, "center_xy": centre})
    return image, face_mask, occluder, params


@pytest.mark.parametrize("seed", range(6))
def test_box_composite_equals_whole_frame(seed: int) -> None:
    rng = np.random.default_rng([29, seed])
    for _ in range(40):
        image, face_mask, occluder, params = random_case(rng)
        image_before = image.copy()
        got = apply_composite(image, face_mask, occluder, params)
        want = whole_frame_composite(image, face_mask, occluder, params)
        assert np.array_equal(image, image_before)
        for name in ("image", "face_mask", "occluder_mask", "footprint"):
            a, b = getattr(got, name), getattr(want, name)
            assert a.dtype == b.dtype and a.shape == b.shape, name
            assert np.array_equal(a, b), f"{name} differs for {params}"


def test_occluder_box_holds_the_warped_cutout_and_clips_to_the_image() -> None:
    params = CompositeParams(scale=1.0, rotation_deg=30.0, fit_scale=1.5, center_xy=(40.0, 20.0))
    alpha = np.ones((10, 20), np.float32)
    matrix = occluder_matrix(alpha.shape, params)
    warped = cv2.warpAffine(alpha, matrix, (64, 64), flags=cv2.INTER_LINEAR)
    top, left, bottom, right = occluder_box(alpha.shape, matrix, 0, (64, 64))
    assert warped[top:bottom, left:right].sum() == pytest.approx(warped.sum())
    assert 0 <= top < bottom <= 64 and 0 <= left < right <= 64
    outside = occluder_box(
        alpha.shape, occluder_matrix(alpha.shape, CompositeParams(center_xy=(500.0, 500.0))), 3, (64, 64)
    )
    assert outside[2] - outside[0] <= 0 or outside[3] - outside[1] <= 0  # wholly outside: an empty box


@pytest.mark.parametrize("centre_frac", [(-5.0, 0.3), (0.5, 6.0), (8.0, -8.0)])
def test_occluder_wholly_outside_changes_nothing(centre_frac: tuple[float, float]) -> None:
    rng = np.random.default_rng(7)
    image, face_mask, occluder, params = random_case(rng)
    size = image.shape[0]
    centre = (centre_frac[0] * size, centre_frac[1] * size)
    params = CompositeParams(**{**params.__dict__, "center_xy": centre, "jpeg_quality": 80, "blur_kernel_px": 3})
    matrix = occluder_matrix(occluder.alpha.shape, params)
    top, left, bottom, right = occluder_box(occluder.alpha.shape, matrix, 0, face_mask.shape)
    assert bottom <= top or right <= left  # the case the compositor skips
    got = apply_composite(image, face_mask, occluder, params)
    want = whole_frame_composite(image, face_mask, occluder, params)
    assert np.array_equal(got.image, image) and got.image is not image
    assert np.array_equal(got.face_mask, face_mask) and got.face_mask is not face_mask
    for name in ("image", "face_mask", "occluder_mask", "footprint"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), name
    assert got.occluder_mask.max() == 0 and not got.footprint.any()
