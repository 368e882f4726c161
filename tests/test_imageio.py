from pathlib import Path

import numpy as np
import pytest

from occgen.core.errors import ImageReadError
from occgen.core.imageio import read_binary_mask, read_image, read_rgba, resize_labels, write_png


def test_read_image_returns_rgb_uint8(tmp_path: Path) -> None:
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red
    write_png(tmp_path / "a.png", rgb)
    out = read_image(tmp_path / "a.png")
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    assert np.array_equal(out, rgb)


def test_read_image_converts_grey_to_rgb(tmp_path: Path) -> None:
    write_png(tmp_path / "g.png", np.full((3, 3), 77, np.uint8))
    assert np.array_equal(read_image(tmp_path / "g.png"), np.full((3, 3, 3), 77, np.uint8))


def test_corrupt_image_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(ImageReadError, match="broken.jpg.*corrupt"):
        read_image(bad)


def test_missing_image_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="nope.png"):
        read_image(tmp_path / "nope.png")


@pytest.mark.parametrize("on_value", [1, 255])
def test_binary_mask_accepts_0_1_and_0_255(tmp_path: Path, on_value: int) -> None:
    mask = np.zeros((6, 6), np.uint8)
    mask[2:4, 1:5] = on_value
    write_png(tmp_path / "m.png", mask)
    out = read_binary_mask(tmp_path / "m.png")
    assert out.dtype == np.uint8 and set(np.unique(out)) == {0, 1}
    assert out.sum() == 8


def test_binary_mask_rejects_other_values(tmp_path: Path) -> None:
    write_png(tmp_path / "m.png", np.array([[0, 128], [255, 0]], np.uint8))
    with pytest.raises(ImageReadError, match="m.png.*0/1 or 0/255.*128"):
        read_binary_mask(tmp_path / "m.png")


def test_read_rgba_requires_alpha(tmp_path: Path) -> None:
    write_png(tmp_path / "rgb.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ImageReadError, match="RGBA"):
        read_rgba(tmp_path / "rgb.png")
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)
    write_png(tmp_path / "rgba.png", rgba)
    rgb, alpha = read_rgba(tmp_path / "rgba.png")
    assert rgb[0, 0].tolist() == [10, 20, 30] and alpha.dtype == np.float32
    assert alpha[0, 0] == 1.0 and alpha[1, 1] == 0.0


def test_resize_labels_never_interpolates() -> None:
    labels = (np.random.default_rng(0).random((37, 37)) > 0.5).astype(np.uint8)
    for size in (16, 100):
        out = resize_labels(labels, (size, size))
        assert out.shape == (size, size) and set(np.unique(out)) <= {0, 1}
