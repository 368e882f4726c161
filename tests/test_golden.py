"""Golden 64x64 composites with fixed params (no RNG): any change to the compositor's pixels shows up here.

Regenerate only on purpose: ``OCCGEN_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py``.
"""

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from occgen.compose import CompositeParams, apply_composite
from occgen.core.imageio import read_binary_mask, read_image, write_png
from occgen.sources.occluder import Occluder

GOLDEN = Path(__file__).parent / "golden"


def golden_inputs() -> tuple[np.ndarray, np.ndarray, Occluder]:
    yy, xx = np.mgrid[0:64, 0:64]
    image = np.stack([4 * xx, 4 * yy, 255 - 2 * (xx + yy)], axis=2).astype(np.uint8)  # smooth gradient face
    face_mask = np.zeros((64, 64), np.uint8)
    cv2.ellipse(face_mask, (32, 34), (18, 24), 0, 0, 360, 1, -1)
    occluder_rgb = np.zeros((24, 32, 3), np.uint8)
    occluder_rgb[:, :16] = (230, 40, 30)
    occluder_rgb[:, 16:] = (30, 60, 220)
    alpha = np.zeros((24, 32), np.float32)
    cv2.ellipse(alpha, (16, 12), (15, 11), 0, 0, 360, 1.0, -1)
    return image, face_mask, Occluder("golden", "test", occluder_rgb, alpha)


CASES = {
    "opaque_rotated": CompositeParams(
        scale=1.1, rotation_deg=20.0, shear_deg=5.0, fit_scale=1.0, center_xy=(30.0, 38.0), alpha_erode_px=3,
        alpha_blur_px=5, seam_blur_px=5, seam_width_px=3,
    ),
    "translucent_augmented": CompositeParams(
        jpeg_quality=75, blur_kernel_px=3, brightness=0.08, contrast=-0.05, fit_scale=0.9, center_xy=(36.0, 28.0),
        opacity=0.55, alpha_erode_px=3, alpha_blur_px=5, seam_blur_px=5, seam_width_px=3,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_composite(name: str) -> None:
    image, face_mask, occluder = golden_inputs()
    out = apply_composite(image, face_mask, occluder, CASES[name])
    paths = {kind: GOLDEN / f"{name}_{kind}.png" for kind in ("image", "face", "occluder")}
    if os.environ.get("OCCGEN_UPDATE_GOLDEN") == "1":
        write_png(paths["image"], out.image)
        write_png(paths["face"], out.face_mask * 255)
        write_png(paths["occluder"], out.occluder_mask)
    golden_image = read_image(paths["image"])
    # Labels must match exactly; colours within 1 level (a JPEG encoder build may round differently).
    assert np.array_equal(out.face_mask, read_binary_mask(paths["face"]))
    assert np.abs(out.occluder_mask.astype(int) - cv2.imread(str(paths["occluder"]), cv2.IMREAD_UNCHANGED)).max() == 0
    assert np.abs(out.image.astype(int) - golden_image.astype(int)).max() <= 1
