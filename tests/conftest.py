"""Fixtures written in the datasets' true on-disk layouts (no dataset is downloaded or committed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from occgen.recipes import RandOccConfig, RandOccRecipe
from occgen.sources.faces import FaceFolder
from occgen.sources.occluders import RandomShapes
from occgen.sources.textures import DTDTextures


def write_rgb(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix == ".jpg" else []
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)


def write_gray(path: Path, gray: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), gray)


def ellipse_mask(size: int, center: tuple[int, int], axes: tuple[int, int], value: int = 255) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, center, axes, 0, 0, 360, value, -1)
    return mask


@pytest.fixture
def face_folder(tmp_path: Path) -> Path:
    """``images/`` + ``masks/``: three 96² faces (noise), elliptic masks, 0/255 and 0/1 files mixed."""
    rng = np.random.default_rng(1)
    root = tmp_path / "faces"
    for i in range(3):
        write_rgb(root / "images" / f"face{i}.jpg", rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))
        value = 255 if i != 1 else 1
        write_gray(root / "masks" / f"face{i}.png", ellipse_mask(96, (48, 50), (26, 34), value))
    return root


@pytest.fixture
def dtd_root(tmp_path: Path) -> Path:
    """DTD layout: ``dtd/images/<category>/<category>_<nnnn>.jpg`` + ``dtd/labels/train1.txt``."""
    rng = np.random.default_rng(2)
    root = tmp_path / "dtd"
    names = []
    for category in ("banded", "dotted"):
        for i in range(1, 3):
            name = f"{category}/{category}_{i:04d}.jpg"
            write_rgb(root / "images" / name, rng.integers(0, 256, (80, 120, 3), dtype=np.uint8), 90)
            names.append(name)
    (root / "labels").mkdir()
    (root / "labels" / "train1.txt").write_text("\n".join(names[::2]) + "\n")
    return root


@pytest.fixture
def small_recipe(face_folder: Path, dtd_root: Path) -> RandOccRecipe:
    textures = DTDTextures(dtd_root)
    occluders = RandomShapes(textures, canvas_px=64)
    return RandOccRecipe(FaceFolder(face_folder), occluders, RandOccConfig(canvas_px=64), seed=7, size=64)
