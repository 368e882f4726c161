"""68 landmarks → face polygon → mask, the optional dlib detector, `occgen faces masks --method landmarks`."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from _faces_synthetic import face68, similarity
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ArrayContractError, ConfigError
from occgen.core.imageio import read_binary_mask, read_image
from occgen.prep.faces.landmarks import DlibLandmarker, face_polygon, landmark_face_mask, polygon_mask
from occgen.prep.faces.stage import masks_with_landmarks

runner = CliRunner()


def _centres_inside(polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Even-odd rule on pixel centres: an independent rasterisation."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    inside = np.zeros(shape, bool)
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        crosses = (y0 > ys) != (y1 > ys)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x0 + (ys - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (xs < x_at)
    return inside


def test_polygon_is_jaw_then_forehead_above_the_brows() -> None:
    points = face68()
    polygon = face_polygon(points, forehead_frac=0.7)
    assert polygon.shape == (27, 2)
    np.testing.assert_array_equal(polygon[:17], points[:17])
    # Reference for an upright face (eye distance 1): brows pushed straight up by 0.7 * (1 - 0.5 u^2).
    brows = points[17:27]
    u = brows[:, 0] / np.abs(brows[:, 0]).max()
    expected = brows - np.stack([np.zeros(10), 0.7 * (1 - 0.5 * u**2)], axis=1)
    np.testing.assert_allclose(polygon[17:], expected[::-1], atol=1e-12)
    flat = face_polygon(points, forehead_frac=0.0)
    np.testing.assert_allclose(flat[17:], brows[::-1])


@pytest.mark.parametrize("degrees", [0.0, 33.0, 180.0, -90.0])
def test_polygon_follows_the_face_pose(degrees: float) -> None:
    pose = {"scale": 40.0, "degrees": degrees, "centre": (100.0, 90.0)}
    moved = face_polygon(similarity(face68(), **pose))
    np.testing.assert_allclose(moved, similarity(face_polygon(face68()), **pose), atol=1e-9)


def test_mask_fills_the_polygon() -> None:
    pose = {"scale": 50.0, "degrees": 20.0, "centre": (110.0, 100.0)}
    points = similarity(face68(), **pose)
    mask = landmark_face_mask(points, (220, 200))
    assert mask.shape == (220, 200) and mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    polygon = face_polygon(points)
    inside = _centres_inside(polygon, mask.shape)
    perimeter = float(np.hypot(*np.diff(np.vstack([polygon, polygon[:1]]), axis=0).T).sum())
    assert mask[inside].all()  # every pixel whose centre is inside is filled ...
    assert 0 <= mask.sum() - inside.sum() <= perimeter  # ... and at most the boundary pixels besides

    def at(x: float, y: float) -> int:
        px, py = np.round(similarity(np.array([[x, y]]), **pose)[0]).astype(int)
        return int(mask[py, px])

    inside = [(-0.5, 0.0), (0.5, 0.0), (0.0, 0.45), (0.0, 0.9), (0.0, -0.8), (0.0, 1.2)]
    outside = [(0.0, -1.1), (0.0, 1.5), (1.15, 0.3), (-1.15, 0.3), (0.95, -0.8)]
    assert [at(*p) for p in inside] == [1] * len(inside)
    assert [at(*p) for p in outside] == [0] * len(outside)


def test_polygon_clipped_to_the_image_and_bad_input() -> None:
    mask = landmark_face_mask(similarity(face68(), scale=40.0, degrees=0.0, centre=(0.0, 0.0)), (50, 50))
    assert mask[0, 0] == 1 and mask.sum() < 50 * 50
    with pytest.raises(ArrayContractError, match=r"expected \(68, 2\) landmark x, y coordinates, got \(5, 2\)"):
        face_polygon(np.zeros((5, 2)))
    with pytest.raises(ArrayContractError, match="both eye centres coincide"):
        face_polygon(np.zeros((68, 2)))
    with pytest.raises(ConfigError, match="forehead_frac must be >= 0"):
        face_polygon(face68(), forehead_frac=-0.1)
    with pytest.raises(ArrayContractError, match="expected"):
        polygon_mask(np.zeros((2, 2)), (4, 4))


def test_missing_dlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib now raises ImportError
    with pytest.raises(ConfigError, match=r"needs dlib, which is not installed; .*pip install 'occgen\[landmarks\]'"):
        DlibLandmarker()


def _landmark_source(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(5)
    for name in ("one.jpg", "two.png", "three.png"):
        cv2.imwrite(str(src / name), rng.integers(0, 256, (120, 100, 3), dtype=np.uint8))
    points = similarity(face68(), scale=30.0, degrees=10.0, centre=(50.0, 55.0))
    data = {"one.jpg": points.tolist(), "two": points.tolist(), "three.png": points[:5].tolist()}
    landmark_file = tmp_path / "landmarks.json"
    landmark_file.write_text(json.dumps(data))
    return src, landmark_file


def test_landmark_stage_from_a_landmark_file(tmp_path: Path) -> None:
    src, landmark_file = _landmark_source(tmp_path)
    from occgen.prep.faces.stage import read_landmark_file

    out = tmp_path / "out"
    report = masks_with_landmarks(src, out, landmarks=read_landmark_file(landmark_file))
    assert (report.total, report.written) == (3, 2)
    with (out / "failed.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [{"file": "three.png", "reason": "the face polygon needs 68 landmarks, got 5"}]
    expected = landmark_face_mask(np.array(json.loads(landmark_file.read_text())["one.jpg"]), (120, 100))
    np.testing.assert_array_equal(read_binary_mask(out / "masks" / "one.png"), expected)
    assert read_image(out / "images" / "two.png").shape == (120, 100, 3)


def test_cli_landmark_masks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, landmark_file = _landmark_source(tmp_path)
    out = tmp_path / "out"
    base = ["faces", "masks", "--method", "landmarks", "--src", str(src), "--out", str(out)]
    result = runner.invoke(app, [*base, "--landmarks", str(landmark_file), "--forehead-frac", "0.5"])
    assert result.exit_code == 0, result.output
    assert "masked 2 of 3 face(s)" in result.output and "1 failed" in result.output
    monkeypatch.setitem(sys.modules, "dlib", None)
    result = runner.invoke(app, base)
    assert result.exit_code == 1 and "occgen[landmarks]" in result.output


def test_dlib_detector_on_a_real_face() -> None:
    """Runs only where the optional extra is installed (pip install 'occgen[landmarks]')."""
    pytest.importorskip("dlib")
    if importlib.util.find_spec("face_recognition_models") is None:  # it imports pkg_resources: found, not imported
        pytest.skip("face-recognition-models is not installed")
    image = read_image(Path(__file__).parents[1] / "assets" / "demo" / "faces" / "images" / "astronaut.jpg")
    detection = DlibLandmarker().detect(image)
    assert detection is not None and detection.landmarks.shape == (68, 2)
    mask = landmark_face_mask(detection.landmarks, image.shape[:2])
    demo = read_binary_mask(Path(__file__).parents[1] / "assets" / "demo" / "faces" / "masks" / "astronaut.png")
    iou = (mask & demo).sum() / (mask | demo).sum()
    assert iou > 0.6, iou
    assert DlibLandmarker().detect(np.zeros((64, 64, 3), np.uint8)) is None
