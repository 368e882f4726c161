"""A small FaceOcc folder written in the authors' layout (face3d0725/FaceExtraction dataset.py:14-28)."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from occgen.recipes.faceocc import FaceOccConfig, FaceOccRecipe
from occgen.sources.faceocc import open_faceocc
from occgen.sources.faces import FaceFolder

SIDE = 64


def _rgba(path: Path, rgb: np.ndarray, alpha: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    bgra = cv2.cvtColor(np.dstack([rgb, alpha]).astype(np.uint8), cv2.COLOR_RGBA2BGRA)
    assert cv2.imwrite(str(path), bgra)


def _box(y0: int, y1: int, x0: int, x1: int, side: int = SIDE) -> np.ndarray:
    alpha = np.zeros((side, side), np.uint8)
    alpha[y0:y1, x0:x1] = 255
    return alpha


def face_labels(side: int = SIDE) -> np.ndarray:
    """A CelebAMask-HQ label map: skin ellipse (1), eyes (5, 6), glasses (4) band, hair (11) on top."""
    labels = np.zeros((side, side), np.float32)
    cv2.ellipse(labels, (side // 2, side // 2), (side // 3, side * 2 // 5), 0, 0, 360, 1, -1)
    labels[side * 3 // 8 : side * 7 // 16, side // 3 : side * 2 // 3] = 4
    labels[: side // 8] = 11
    return labels


def write_faceocc(root: Path, *, bad: bool = False) -> Path:
    """``root/FaceOcc`` with 2 CelebAHQ, 2 ffhq (+ ffhqMask pickles), internet/{mask,glasses}, 2 textures,
    3 COFW_test pairs; ``bad`` adds a corrupt PNG and a non-RGBA cut-out."""
    rng = np.random.default_rng(7)
    top = root / "FaceOcc"

    def noise() -> np.ndarray:
        return rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)

    _rgba(top / "CelebAHQ" / "12.png", noise(), _box(40, 64, 10, 54))  # hand over the mouth
    _rgba(top / "CelebAHQ" / "31.png", noise(), _box(20, 30, 8, 56))  # sunglasses
    for stem, box in (("00001", _box(0, 20, 0, 64)), ("00007", _box(30, 64, 40, 64))):
        _rgba(top / "ffhq" / f"{stem}.png", noise(), box)
        (top / "ffhqMask").mkdir(parents=True, exist_ok=True)
        (top / "ffhqMask" / f"{stem}.pkl").write_bytes(pickle.dumps(face_labels()))
    _rgba(top / "internet" / "mask" / "surgical.png", np.full((SIDE, SIDE, 3), 200, np.uint8), _box(38, 56, 16, 48))
    _rgba(top / "internet" / "glasses" / "sun.png", np.zeros((SIDE, SIDE, 3), np.uint8), _box(22, 30, 12, 52))
    for i in range(2):
        path = top / "texture" / f"t{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), noise())
    for i in range(3):
        (top / "COFW_test" / "img").mkdir(parents=True, exist_ok=True)
        (top / "COFW_test" / "mask").mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(top / "COFW_test" / "img" / f"{i}.jpg"), noise())
        mask = np.zeros((SIDE, SIDE), np.uint8)
        cv2.ellipse(mask, (32, 32), (18, 24), 0, 0, 360, 255, -1)
        assert cv2.imwrite(str(top / "COFW_test" / "mask" / f"{i}.png"), mask)
    if bad:
        (top / "ffhq" / "broken.png").write_bytes(b"\x89PNG not really")
        assert cv2.imwrite(str(top / "internet" / "mask" / "no_alpha.png"), noise())
    return top


def faceocc_recipe(tmp_path: Path, face_folder: Path, **changes: object) -> FaceOccRecipe:
    """A 64-px FaceOcc recipe (seed 3) over ``face_folder`` and the fixture FaceOcc folder under ``tmp_path``."""
    root = tmp_path / "data"
    if not (root / "FaceOcc").exists():
        write_faceocc(root)
    config = replace(FaceOccConfig(size_px=64), **changes)  # type: ignore[arg-type]
    return FaceOccRecipe(FaceFolder(face_folder), open_faceocc(root / "FaceOcc"), config, seed=3)
