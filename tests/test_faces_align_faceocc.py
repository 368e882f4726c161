"""`occgen faces align --template faceocc`: the FaceOcc authors' 256² frame."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ArrayContractError
from occgen.prep.faces.align import (
    FACEOCC_TEMPLATE,
    align_face_faceocc,
    faceocc_matrix,
    faceocc_points,
    transform_points,
)

# Documented landing positions at 256² (x' = 128 + 116 X, y' = 128 - 116 Y; /work/notes/faceocc.md section 2).
DOCUMENTED = np.array([[91.87, 94.32], [163.94, 94.39], [128.38, 133.36], [98.75, 172.24], [156.82, 172.23]])


def _frontal(scale: float, origin: tuple[float, float]) -> np.ndarray:
    """The template seen frontally in a photo: x = s X + ox, y = oy - s Y (y down)."""
    return np.stack([scale * FACEOCC_TEMPLATE[:, 0] + origin[0], origin[1] - scale * FACEOCC_TEMPLATE[:, 1]], axis=1)


@pytest.mark.parametrize(("scale", "origin"), [(170.0, (300.0, 260.0)), (60.0, (90.0, 120.0))])
def test_template_points_land_at_documented_positions(scale: float, origin: tuple[float, float]) -> None:
    points = _frontal(scale, origin)
    landed = transform_points(faceocc_matrix(points), points)
    np.testing.assert_allclose(landed, DOCUMENTED, atol=0.01)
    half = transform_points(faceocc_matrix(points, 128), points)
    np.testing.assert_allclose(half, DOCUMENTED / 2, atol=0.01)


def test_68_points_reduce_like_the_authors() -> None:
    five = _frontal(100.0, (200.0, 200.0))
    many = np.zeros((68, 2))
    many[36], many[39] = five[0] - [10, 0], five[0] + [10, 0]  # eye corners around the eye centre
    many[42], many[45] = five[1] - [10, 1], five[1] + [10, 1]
    many[30], many[48], many[54] = five[2], five[3], five[4]
    np.testing.assert_allclose(faceocc_points(many), five)
    np.testing.assert_allclose(faceocc_matrix(many), faceocc_matrix(five))


def _photo(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (400, 400, 3), dtype=np.uint8), (0, 0), 3)
    mask = np.zeros((400, 400), np.uint8)
    centre = tuple(int(v) for v in points.mean(axis=0))
    cv2.ellipse(mask, centre, (90, 120), 0, 0, 360, 1, -1)
    return image, mask


def test_aligning_an_aligned_face_changes_nothing() -> None:
    points = _frontal(150.0, (210.0, 190.0)) + np.random.default_rng(3).normal(0, 2.0, (5, 2))
    image, mask = _photo(points)
    once = align_face_faceocc(image, points, mask=mask)
    assert once.image.shape == (256, 256, 3) and set(np.unique(once.mask)) <= {0, 1}
    twice = align_face_faceocc(once.image, once.landmarks, mask=once.mask)
    assert np.abs(twice.landmarks - once.landmarks).max() < 0.5
    assert np.abs(twice.matrix - np.array([[1.0, 0, 0], [0, 1.0, 0]])).max() < 1e-6
    inner = (slice(20, 236), slice(20, 236))
    assert np.abs(twice.image[inner].astype(int) - once.image[inner]).max() <= 1
    assert np.array_equal(twice.mask, once.mask)


def test_bad_landmarks_raise() -> None:
    with pytest.raises(ArrayContractError, match=r"expected \(68, 2\) or \(5, 2\)"):
        faceocc_matrix(np.zeros((4, 2)))
    with pytest.raises(ArrayContractError, match="coincide"):
        faceocc_matrix(np.ones((5, 2)))


def test_cli_align_faceocc_template(tmp_path: Path) -> None:
    points = _frontal(150.0, (210.0, 190.0))
    image, mask = _photo(points)
    (tmp_path / "src" / "images").mkdir(parents=True)
    (tmp_path / "src" / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "src" / "images" / "a.png"), image)
    cv2.imwrite(str(tmp_path / "src" / "masks" / "a.png"), mask * 255)
    table = tmp_path / "lm.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", *[f"{axis}{i}" for i in range(5) for axis in "xy"]])
        writer.writerow(["a.png", *points.ravel().tolist()])
    out = tmp_path / "out"
    args = ["faces", "align", "--src", str(tmp_path / "src"), "--out", str(out), "--landmarks", str(table),
            "--template", "faceocc"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(out / "images" / "a.png")).shape == (256, 256, 3)
    landed = np.array(json.loads((out / "landmarks.json").read_text())["a.png"])
    np.testing.assert_allclose(landed, DOCUMENTED, atol=0.01)
    bad = CliRunner().invoke(app, [*args[:-1], "bogus"])
    assert bad.exit_code == 1 and "valid: ffhq, faceocc" in bad.output
