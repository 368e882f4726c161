"""Fixtures written in the datasets' true on-disk layouts (no dataset is downloaded or committed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from occgen.recipes.randocc import RandOccConfig, RandOccRecipe
from occgen.sources.faces import FaceFolder
from occgen.sources.shapes import RandomShapes
from occgen.sources.textures import DTDTextures


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """occgen's per-machine caches (source copies, per-URL lock files, file hashes) in temporary folders, not
    ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OCCGEN_CACHE_DIR", str(tmp_path_factory.mktemp("occgen-cache")))
        patch.setenv("OCCGEN_LOCK_DIR", str(tmp_path_factory.mktemp("occgen-locks")))
        patch.setenv("OCCGEN_FINGERPRINT_CACHE", str(tmp_path_factory.mktemp("occgen-fingerprints")))
        yield


#: Variables that libraries set in the calling process (not a test's doing): torch's inductor when transformers
#: is imported; dask.distributed's nanny when a LocalCluster starts (its pre-spawn environment). Restored after
#: each test like any other, but not counted as the test's leak.
LIBRARY_SIDE_EFFECTS = frozenset({
    "TORCHINDUCTOR_CACHE_DIR", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MKL_NUM_THREADS",
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED", "__DASK_PARENT_PID",
})  # fmt: skip


@pytest.fixture(autouse=True)
def _environment_restored(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that changes ``os.environ`` (storage options, offline flags, thread counts) must put it back:
    this fails the test that leaked, names the variables, and restores them so later tests do not inherit it."""
    import os

    def snapshot() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # pytest's own bookkeeping

    before = snapshot()
    yield
    after = snapshot()
    if after != before:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        for key in changed:
            if key in before:
                os.environ[key] = before[key]
            else:
                del os.environ[key]
        leaked = [key for key in changed if key not in LIBRARY_SIDE_EFFECTS]
        if leaked:
            pytest.fail(f"{request.node.nodeid} left os.environ changed: {', '.join(leaked)}", pytrace=False)


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


# --- hands (11k Hands layout) ------------------------------------------------------------------------


def hand_photo(seed: int, rot90: int, height: int = 240, width: int = 320):
    """A drawn hand on a near-white background: ``(image, true_foreground, true_alpha, finger_angle_deg)``."""
    from occgen.prep.hands.synthetic import finger_angle_deg, on_background, render_hand, sample_hand_shape

    rng = np.random.default_rng(seed)
    shape = sample_hand_shape(rng=rng, rot90=rot90)
    # Draw fingers-up in the un-turned frame so that the turned photo is height x width.
    draw_h, draw_w = (height, width) if rot90 % 2 == 0 else (width, height)
    fg, alpha = render_hand(shape, draw_h, draw_w, rng=rng)
    return on_background(fg, alpha, rng=rng), fg, alpha, finger_angle_deg(rot90)


HAND_CSV_HEADER = "id,age,gender,skinColor,accessories,nailPolish,aspectOfHand,imageName,irregularities\n"


@pytest.fixture
def elevenk_root(tmp_path: Path) -> Path:
    """11k Hands layout: ``Hands/Hand_000000{2..5}.jpg`` + ``HandInfo.csv`` (one row without its file)."""
    root = tmp_path / "11k"
    rows = [
        ("0000000", "dorsal right", "Hand_0000002.jpg", 0, 0),
        ("0000000", "palmar left", "Hand_0000003.jpg", 1, 0),
        ("0000001", "dorsal left", "Hand_0000004.jpg", 0, 1),
        ("0000001", "dorsal right", "Hand_0000005.jpg", 0, 0),
    ]
    for i, (_, _, name, _, _) in enumerate(rows):
        image, _, _, _ = hand_photo(10 + i, i % 4)
        write_rgb(root / "Hands" / name, image, 95)
    lines = [f"{pid},25,male,fair,{acc},0,{aspect},{name},{irr}\n" for pid, aspect, name, acc, irr in rows]
    lines.append("0000002,30,female,dark,0,0,dorsal right,Hand_0000099.jpg,0\n")  # no such file
    (root / "HandInfo.csv").write_text(HAND_CSV_HEADER + "".join(lines))
    return root


@pytest.fixture(scope="session")
def pymatting_warm():
    """Import pymatting once per session: its first import compiles with numba (tens of seconds in a fresh
    environment, about 1 s from numba's cache afterwards)."""
    import pymatting

    return pymatting
