from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from occgen.compose import (  # fmt: skip
    CompositeConfig,
    CompositeParams,
    apply_composite,
    apply_photometric,
    face_box,
    occluder_matrix,
    sample_composite,
)
from occgen.core.errors import ArrayContractError, ConfigError
from occgen.sources.occluder import Occluder

SIZE = 64


def make_face(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    face_mask = np.zeros((SIZE, SIZE), np.uint8)
    face_mask[16:48, 20:44] = 1
    return image, face_mask


def solid_occluder(color: tuple[int, int, int] = (255, 0, 0), side: int = 20, alpha_value: float = 1.0) -> Occluder:
    rgb = np.zeros((side, side, 3), np.uint8)
    rgb[:] = color
    return Occluder("solid", "test", rgb, np.full((side, side), alpha_value, np.float32))


def plain_params(**overrides: object) -> CompositeParams:
    """No augmentation, no soft edges: the occluder lands pixel-aligned at the image centre."""
    return replace(CompositeParams(center_xy=(32.0, 32.0), fit_scale=1.0), **overrides)  # type: ignore[arg-type]


def test_face_box_and_empty_fallback() -> None:
    _, face_mask = make_face()
    assert face_box(face_mask) == (20, 16, 44, 48)
    assert face_box(np.zeros((SIZE, SIZE), np.uint8)) == (16, 16, 48, 48)


def test_opaque_occluder_reference_pixels() -> None:
    image, face_mask = make_face()
    out = apply_composite(image, face_mask, solid_occluder(), plain_params())
    # A 20 px square centred at (32, 32) covers pixels 22..41.
    assert out.image[32, 32].tolist() == [255, 0, 0]
    assert out.image[5, 5].tolist() == image[5, 5].tolist()
    assert out.occluder_mask[25:39, 25:39].min() == 255 and out.occluder_mask[:20].max() == 0
    expected_face = face_mask.copy()
    expected_face[22:42, 22:42] = 0
    assert np.array_equal(out.face_mask, expected_face)


def test_translucent_blend_is_the_alpha_mix_and_still_occludes() -> None:
    image, face_mask = make_face()
    out = apply_composite(image, face_mask, solid_occluder((200, 100, 0)), plain_params(opacity=0.5))
    expected = 0.5 * np.array([200, 100, 0]) + 0.5 * image[32, 32].astype(float)
    assert np.abs(out.image[32, 32].astype(float) - expected).max() <= 1.0
    assert out.occluder_mask[32, 32] in (127, 128)
    assert out.face_mask[32, 32] == 0  # a translucent occluder is still background


def test_transparent_occluder_changes_nothing() -> None:
    image, face_mask = make_face()
    params = sample_composite(rng=np.random.default_rng(0), config=CompositeConfig(), face_mask=face_mask,
                              occluder_shape=(20, 20))  # fmt: skip
    out = apply_composite(image, face_mask, solid_occluder(alpha_value=0.0), params)
    assert np.array_equal(out.image, image) and np.array_equal(out.face_mask, face_mask)
    assert out.occluder_mask.max() == 0


def test_identity_photometric_keeps_colours() -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    out = apply_photometric(rgb, CompositeParams())
    assert np.array_equal(out, rgb) and out is not rgb


def test_photometric_changes_colours_when_asked() -> None:
    rgb = np.full((8, 8, 3), 100, np.uint8)
    brighter = apply_photometric(rgb, CompositeParams(brightness=0.1))
    assert brighter[0, 0, 0] == 100 + round(0.1 * 255)


def test_occluder_matrix_maps_centre_to_target() -> None:
    params = CompositeParams(center_xy=(40.0, 12.0), fit_scale=2.0, scale=1.1, rotation_deg=30, shear_deg=5)
    matrix = occluder_matrix((30, 50), params)
    assert np.allclose(matrix @ np.array([25.0, 15.0, 1.0]), [40.0, 12.0])


def test_sampled_placement_respects_face_box_and_area() -> None:
    _, face_mask = make_face()
    config = CompositeConfig(affine_p=0.0)
    for seed in range(50):
        params = sample_composite(rng=np.random.default_rng(seed), config=config, face_mask=face_mask,
                                  occluder_shape=(10, 30))  # fmt: skip
        x, y = params.center_xy
        assert 20 <= x <= 44 and 16 <= y <= 48
        area_frac = (params.fit_scale**2) * 300 / (24 * 32)
        assert 0.5 - 1e-9 <= area_frac <= 1.0 + 1e-9


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), opacity=st.floats(0.0, 1.0), side=st.integers(1, 40))
def test_invariants_under_random_params(seed: int, opacity: float, side: int) -> None:
    image, face_mask = make_face(seed % 7)
    image_before, mask_before = image.copy(), face_mask.copy()
    rng = np.random.default_rng(seed)
    alpha = rng.random((side, side)).astype(np.float32)
    occluder = Occluder("r", "test", rng.integers(0, 256, (side, side, 3), dtype=np.uint8), alpha)
    params = sample_composite(rng=rng, config=CompositeConfig(), face_mask=face_mask,
                              occluder_shape=(side, side), opacity=opacity)  # fmt: skip
    out = apply_composite(image, face_mask, occluder, params)
    assert np.array_equal(image, image_before) and np.array_equal(face_mask, mask_before)  # not mutated
    assert out.image.shape == image.shape and out.image.dtype == np.uint8
    assert out.face_mask.dtype == np.uint8 and set(np.unique(out.face_mask)) <= {0, 1}
    assert not np.any(out.face_mask > face_mask)  # the visible face never grows
    assert out.occluder_mask.dtype == np.uint8


def test_sampling_is_deterministic() -> None:
    _, face_mask = make_face()
    draws = [sample_composite(rng=np.random.default_rng(9), config=CompositeConfig(), face_mask=face_mask,
                              occluder_shape=(12, 12)) for _ in range(2)]  # fmt: skip
    assert draws[0] == draws[1]


def test_bad_inputs_say_what_was_expected() -> None:
    image, face_mask = make_face()
    with pytest.raises(ArrayContractError, match=r"expected \(H, W, 3\) uint8, got \(64, 64\) uint8"):
        apply_composite(face_mask, face_mask, solid_occluder(), plain_params())
    with pytest.raises(ArrayContractError, match="image is 64x64 but face_mask is 32x32"):
        apply_composite(image, face_mask[:32, :32], solid_occluder(), plain_params())
    with pytest.raises(ArrayContractError, match=r"values in \[0, 1\]"):
        Occluder("x", "t", np.zeros((2, 2, 3), np.uint8), np.full((2, 2), 2.0, np.float32))
    with pytest.raises(ConfigError, match="composite.scale_range must be"):
        CompositeConfig(scale_range=(1.2, 0.8))
    with pytest.raises(ConfigError, match="composite.blur_p must be a probability"):
        CompositeConfig(blur_p=1.5)
