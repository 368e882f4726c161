"""FFHQ-style alignment: round trip on synthetic faces, binary masks, landmark files, `occgen faces align`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from _faces_synthetic import face68, similarity
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ArrayContractError, SourceError
from occgen.core.imageio import read_binary_mask
from occgen.prep.faces.align import align_face, alignment_points, ffhq_quad
from occgen.prep.faces.landmarks import landmark_face_mask
from occgen.prep.faces.stage import align_folder, read_landmark_file
from occgen.sources.faces import FaceFolder

runner = CliRunner()
SIZE = 128
TOLERANCE_PX = 0.5  # measured error: under 0.2 px
# Eye centres and mouth corners of face68() (eye-distance units) and their colours in the test image.
MARKS = {(-0.5, 0.0): (255, 0, 0), (0.5, 0.0): (0, 255, 0), (-0.4, 0.9): (0, 0, 255), (0.4, 0.9): (255, 255, 0)}
GREY = np.array([128, 128, 128], np.float64)


def expected_position(point: tuple[float, float], size: int) -> np.ndarray:
    """Worked out by hand from FFHQ's rule for an upright face68(): the eye term sets the crop half side
    (2.0 eye distances > 1.8 * 0.9), so the output spans 4 eye distances; the centre is 0.09 below the eyes."""
    return (size - 1) / 2 + size / 4 * (np.asarray(point) - [0.0, 0.09])


def synthetic_face(pose: dict, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    image = np.full((*shape, 3), 128, np.uint8)
    radius = 0.1 * pose["scale"]
    for point, colour in MARKS.items():
        centre = similarity(np.array([point]), **pose)[0]
        cv2.circle(image, tuple(np.round(centre * 16).astype(int)), round(radius * 16), colour, -1, cv2.LINE_AA, 4)
    return image, similarity(face68(), **pose)


def centroid(image: np.ndarray, colour: tuple[int, int, int], near: np.ndarray, window: int = 12) -> np.ndarray:
    """Centroid, within ``window`` px of ``near``, weighted by how much of ``colour`` (vs the grey background)
    each pixel holds (the window keeps the other marks' anti-aliased edges out)."""
    target = np.asarray(colour, np.float64)
    weight = 1 - np.linalg.norm(image.astype(np.float64) - target, axis=2) / np.linalg.norm(GREY - target)
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    weight[(np.abs(xs - near[0]) > window) | (np.abs(ys - near[1]) > window)] = 0
    weight = np.clip(weight, 0, 1)
    assert weight.sum() > 10, f"colour {colour} not found near {near}"
    return np.array([(weight * xs).sum(), (weight * ys).sum()]) / weight.sum()


@pytest.mark.parametrize(
    ("pose", "shape"),
    [
        ({"scale": 60.0, "degrees": 25.0, "centre": (210.0, 170.0)}, (380, 420)),  # shrinks (area pre-filter)
        ({"scale": 18.0, "degrees": -40.0, "centre": (60.0, 62.0)}, (140, 120)),  # enlarges
        ({"scale": 40.0, "degrees": 170.0, "centre": (70.0, 80.0)}, (160, 150)),  # upside down, crop leaves image
    ],
)
def test_rotated_scaled_face_ends_upright_at_canonical_positions(pose: dict, shape: tuple[int, int]) -> None:
    image, landmarks = synthetic_face(pose, shape)
    aligned = align_face(image, landmarks, SIZE)
    assert aligned.image.shape == (SIZE, SIZE, 3) and aligned.image.dtype == np.uint8 and aligned.mask is None
    for point, colour in MARKS.items():
        expected = expected_position(point, SIZE)
        found = centroid(aligned.image, colour, expected)
        assert np.abs(found - expected).max() < TOLERANCE_PX, (point, found, expected)
    moved = alignment_points(aligned.landmarks)
    np.testing.assert_allclose(moved.eye_left, expected_position((-0.5, 0.0), SIZE), atol=1e-6)
    np.testing.assert_allclose(moved.mouth_right, expected_position((0.4, 0.9), SIZE), atol=1e-6)


def test_five_points_give_the_same_crop_as_68() -> None:
    points = similarity(face68(), scale=30.0, degrees=12.0, centre=(80.0, 70.0))
    eyes = alignment_points(points)
    five = np.stack([eyes.eye_left, eyes.eye_right, points[30], points[48], points[54]])
    np.testing.assert_allclose(ffhq_quad(alignment_points(five)), ffhq_quad(eyes), atol=1e-12)


def test_masks_stay_binary_and_follow_the_face() -> None:
    pose = {"scale": 45.0, "degrees": -30.0, "centre": (150.0, 140.0)}
    image, landmarks = synthetic_face(pose, (300, 320))
    mask = landmark_face_mask(landmarks, image.shape[:2])
    aligned = align_face(image, landmarks, SIZE, mask)
    assert aligned.mask is not None and aligned.mask.dtype == np.uint8
    assert set(np.unique(aligned.mask)) == {0, 1}
    redrawn = landmark_face_mask(aligned.landmarks, (SIZE, SIZE))
    iou = (aligned.mask & redrawn).sum() / (aligned.mask | redrawn).sum()
    assert iou > 0.97, iou
    assert aligned.mask[0].sum() == 0  # above the forehead: no face


def test_bad_inputs_raise() -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ArrayContractError, match=r"expected \(68, 2\) or \(5, 2\) x, y coordinates, got \(4, 2\)"):
        align_face(image, np.zeros((4, 2)), 64)
    with pytest.raises(ArrayContractError, match="eyes and mouth coincide"):
        align_face(image, np.zeros((5, 2)), 64)
    with pytest.raises(ArrayContractError, match=r"mask is \(16, 16\) but image is \(32, 32\)"):
        align_face(image, face68() * 10 + 16, 64, np.zeros((16, 16), np.uint8))


def _aligned_source(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    pose = {"scale": 30.0, "degrees": 15.0, "centre": (80.0, 75.0)}
    image, landmarks = synthetic_face(pose, (150, 160))
    for stem in ("near", "far"):
        (src / "images").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(src / "images" / f"{stem}.jpg"), image[:, :, ::-1])
        (src / "masks").mkdir(exist_ok=True)
        cv2.imwrite(str(src / "masks" / f"{stem}.png"), landmark_face_mask(landmarks, image.shape[:2]) * 255)
    table = tmp_path / "landmarks.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", *[f"{axis}{i}" for i in range(68) for axis in "xy"]])
        writer.writerow(["near.jpg", *landmarks.ravel().tolist()])
    return src, table


def test_align_folder_writes_a_face_folder_and_lists_failures(tmp_path: Path) -> None:
    src, table = _aligned_source(tmp_path)
    out = tmp_path / "out"
    report = align_folder(src, out, 64, landmarks=read_landmark_file(table))
    assert (report.total, report.written) == (2, 1)
    with (out / "failed.csv").open() as handle:
        assert list(csv.DictReader(handle)) == [
            {"file": "far.jpg", "reason": "no landmarks for this file in the landmark file"}
        ]
    raw = cv2.imread(str(out / "masks" / "near.png"), cv2.IMREAD_UNCHANGED)
    assert raw.shape == (64, 64) and set(np.unique(raw)) == {0, 255}
    aligned_landmarks = json.loads((out / "landmarks.json").read_text())
    assert list(aligned_landmarks) == ["near.png"] and len(aligned_landmarks["near.png"]) == 68
    face = FaceFolder(out).load(0, 64)
    np.testing.assert_array_equal(face.face_mask, read_binary_mask(out / "masks" / "near.png"))


def test_landmark_files_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"a.jpg": [[1, 2], [3, 4]]}')
    with pytest.raises(SourceError, match=r"bad.json \(a.jpg\): expected 68 or 5 finite \[x, y\] points"):
        read_landmark_file(bad)
    bad.write_text("[1, 2")
    with pytest.raises(SourceError, match="not valid JSON"):
        read_landmark_file(bad)
    headerless = tmp_path / "bad.csv"
    headerless.write_text("a.jpg,1,2\n")
    with pytest.raises(SourceError, match="the first row must be a header 'file,x0,y0,x1,y1,...'"):
        read_landmark_file(headerless)
    five = tmp_path / "five.csv"
    five.write_text("file,x0,y0\nb.png," + ",".join(["1", "2", "3", "4", "5", "6", "7", "9", "9", "10"]) + "\n")
    assert read_landmark_file(five)["b.png"].shape == (5, 2)
    text = tmp_path / "x.txt"
    text.write_text("")
    with pytest.raises(SourceError, match="must be .json or .csv"):
        read_landmark_file(text)


def test_cli_align(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, table = _aligned_source(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["faces", "align", "--src", str(src), "--out", str(out), "--size", "64",
                                 "--landmarks", str(table)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "aligned 1 of 2 face(s)" in result.output and "1 failed" in result.output
    assert "failed: far.jpg (no landmarks for this file in the landmark file)" in " ".join(result.output.split())
    monkeypatch.setitem(sys.modules, "dlib", None)
    result = runner.invoke(app, ["faces", "align", "--src", str(src), "--out", str(out)])
    assert result.exit_code == 1 and "pip install 'occgen[landmarks]'" in result.output
