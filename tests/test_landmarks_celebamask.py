"""Issue 25's test: parsing-derived landmarks on CelebAMask-HQ-layout faces lie inside their class regions. The
faces are written in the release's layout (``CelebA-HQ-img/<i>.jpg``, one binary PNG per part in
``CelebAMask-HQ-mask-anno/<i // 2000>/<i:05d>_<part>.png``, the subject's ``l_`` parts on the image's right) and
stored through ``occgen generate randocc --faces ROOT --labels landmarks``; each stored point is checked against the
part files as written (not against occgen's parsing ids)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.store.schema import ShardReader

runner = CliRunner()
SIZE = 64
#: point name -> the part files whose union it must lie in
REGIONS = {"left_eye": ("l_eye",), "right_eye": ("r_eye",), "left_brow": ("l_brow",), "right_brow": ("r_brow",),
           "nose_center": ("nose",), "mouth_center": ("mouth", "u_lip", "l_lip"),
           "mouth_left": ("mouth", "u_lip", "l_lip"), "mouth_right": ("mouth", "u_lip", "l_lip"),
           "upper_lip": ("u_lip",), "lower_lip": ("l_lip",), "chin": ("skin",), "jaw_left": ("skin",),
           "jaw_right": ("skin",)}  # fmt: skip


def part_masks(shift: int) -> dict[str, np.ndarray]:
    """One face's parts at 64² (uint8 0/255), moved ``shift`` px right: skin an ellipse, hair over the forehead,
    the subject's left eye, brow and lip corner on the image's right."""
    parts = {name: np.zeros((SIZE, SIZE), np.uint8) for name in
             ("skin", "hair", "l_eye", "r_eye", "l_brow", "r_brow", "nose", "u_lip", "mouth", "l_lip")}  # fmt: skip
    cv2.ellipse(parts["skin"], (32 + shift, 34), (18, 24), 0, 0, 360, 255, -1)
    parts["hair"][:12] = 255
    boxes = {"l_eye": (24, 28, 37, 44), "r_eye": (24, 28, 20, 27), "l_brow": (19, 21, 36, 46),
             "r_brow": (19, 21, 18, 28), "nose": (29, 38, 29, 35), "u_lip": (41, 43, 25, 40),
             "mouth": (43, 44, 26, 39), "l_lip": (44, 47, 25, 40)}  # rows, cols (end excluded)  # fmt: skip
    for name, (r0, r1, c0, c1) in boxes.items():
        parts[name][r0:r1, c0 + shift : c1 + shift] = 255
    return parts


def write_celebamask(root: Path, count: int) -> Path:
    rng = np.random.default_rng(4)
    for i in range(count):
        image = rng.integers(60, 200, (2 * SIZE, 2 * SIZE, 3), dtype=np.uint8)
        (root / "CelebA-HQ-img").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "CelebA-HQ-img" / f"{i}.jpg"), image)
        folder = root / "CelebAMask-HQ-mask-anno" / str(i // 2000)
        folder.mkdir(parents=True, exist_ok=True)
        for part, mask in part_masks(shift=i).items():
            cv2.imwrite(str(folder / f"{i:05d}_{part}.png"), mask)
    return root


def inside(parts: dict[str, np.ndarray], point: np.ndarray, names: tuple[str, ...]) -> bool:
    col, row = int(np.floor(point[0] + 0.5)), int(np.floor(point[1] + 0.5))
    return 0 <= row < SIZE and 0 <= col < SIZE and any(parts[name][row, col] > 0 for name in names)


def test_celebamask_layout_landmarks_lie_inside_their_part_files(tmp_path: Path) -> None:
    root = write_celebamask(tmp_path / "celebamask", 3)
    out = tmp_path / "s.zarr"
    args = ["generate", "randocc", "--faces", str(root), "--n", "6", "--size", str(SIZE), "--workers", "1",
            "--seed", "2", "--shard-size", "6", "--no-preview", "--out", str(out), "--labels", "landmarks"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    reader = ShardReader(out)
    names = reader.card["labels"]["landmarks"]["names"]
    assert set(names) == set(REGIONS) and reader.card["labels"]["landmarks"]["scheme"] == "occgen-parsing-13"
    faces = set()
    for i in range(len(reader)):
        meta = reader[i].metadata
        face = int(meta["face_index"])
        faces.add(face)
        parts = {name: cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for name, p in (
            (path.stem.split("_", 1)[1], path) for path in (root / "CelebAMask-HQ-mask-anno" / "0").glob(
                f"{int(meta['face_id']):05d}_*.png"))}  # fmt: skip
        points = reader.labels(i)["landmarks"]
        assert points.shape == (13, 2) and points.dtype == np.float32 and np.isfinite(points).all()
        for k, name in enumerate(names):
            assert inside(parts, points[k], REGIONS[name]), (i, name, points[k].tolist())
        at = {name: points[k] for k, name in enumerate(names)}
        assert at["left_eye"][0] > at["right_eye"][0] and at["jaw_left"][0] > at["jaw_right"][0]  # the l_ side
        assert at["chin"][1] > at["lower_lip"][1] > at["upper_lip"][1] > at["nose_center"][1] > at["left_eye"][1]
    assert faces == {0, 1, 2}
    json.dumps(reader.card["labels"]["landmarks"])
