"""Scores per skin tone (occgen.train.skin_tone): the ITA of the visible face and its group in evaluate's output."""

from __future__ import annotations

import csv
import json
import math

import cv2
import numpy as np
import pytest

from occgen.train.evaluate import EvalItem, EvalResult, write_report
from occgen.train.skin_tone import face_ita, skin_tone_group, skin_tone_groups


def _rgb_of_lab(lightness: float, a: float, b: float) -> np.ndarray:
    """The uint8 RGB colour of a CIELAB colour (OpenCV's float conversion, L in 0-100)."""
    lab = np.array([[[lightness, a, b]]], np.float32)
    return np.clip(np.round(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)[0, 0] * 255.0), 0, 255).astype(np.uint8)


def _face_image(colour: np.ndarray, background: tuple[int, int, int] = (20, 200, 30)) -> tuple[np.ndarray, np.ndarray]:
    image = np.zeros((40, 40, 3), np.uint8)
    image[:] = background
    truth = np.zeros((40, 40), bool)
    truth[8:32, 10:30] = True
    image[truth] = colour
    return image, truth


@pytest.mark.parametrize(
    ("lightness", "b", "group"),
    [(75.0, 12.0, "very light"), (65.0, 15.0, "light"), (58.0, 12.0, "intermediate"), (53.0, 14.0, "tan"),
     (45.0, 18.0, "brown"), (30.0, 14.0, "dark")],
)  # fmt: skip
def test_ita_of_the_face_pixels_only_and_its_group(lightness: float, b: float, group: str) -> None:
    image, truth = _face_image(_rgb_of_lab(lightness, 10.0, b))
    expected = math.degrees(math.atan((lightness - 50.0) / b))
    ita = face_ita(image, truth)
    assert ita == pytest.approx(expected, abs=1.5)  # uint8 rounding of the colour
    assert skin_tone_group(ita) == group
    # The background (a saturated green, ITA far from any skin) does not move the face's angle.
    other, _ = _face_image(_rgb_of_lab(lightness, 10.0, b), background=(0, 0, 255))
    assert face_ita(other, truth) == ita


def test_group_edges_and_undefined_angles() -> None:
    assert [skin_tone_group(x) for x in (55.1, 55.0, 41.0, 28.0, 10.0, -30.0, -30.1, -170.0, 170.0)] == [
        "very light", "light", "intermediate", "tan", "brown", "dark", "dark", "dark", "very light"]  # fmt: skip
    assert skin_tone_group(math.nan) == "no face"
    assert skin_tone_groups() == ("very light", "light", "intermediate", "tan", "brown", "dark", "no face")
    image, truth = _face_image(np.array([200, 150, 120], np.uint8))
    assert math.isnan(face_ita(None, truth)) and math.isnan(face_ita(image, np.zeros_like(truth)))


def test_evaluate_reports_scores_per_skin_tone(tmp_path) -> None:
    light, truth = _face_image(_rgb_of_lab(75.0, 10.0, 12.0))
    dark, _ = _face_image(_rgb_of_lab(30.0, 10.0, 14.0))
    half = truth.copy()
    half[8:20] = False  # the dark face half missed
    result = EvalResult()
    result.add(EvalItem("light", truth, light, "s"), truth, worst_k=0, tile_px=8)
    result.add(EvalItem("dark", truth, dark, "s"), half, worst_k=0, tile_px=8)
    result.add(EvalItem("pred-only", truth, None, "s"), truth, worst_k=0, tile_px=8)  # --pred mode: no image
    summary = write_report(result, tmp_path, {})
    groups = summary["by_skin_tone"]
    assert list(groups) == ["very light", "dark", "no face"]
    assert groups["very light"]["face_iou"] == 1.0 and groups["very light"]["images"] == 1
    assert groups["dark"]["face_iou"] == pytest.approx(240 / 480)
    assert json.loads((tmp_path / "summary.json").read_text())["by_skin_tone"]["dark"]["images"] == 1
    with (tmp_path / "per_image.csv").open() as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    assert rows["dark"]["skin_tone"] == "dark" and float(rows["dark"]["skin_ita"]) < -30
    assert rows["pred-only"]["skin_tone"] == "no face" and rows["pred-only"]["skin_ita"] == ""


def test_no_skin_tone_section_without_images() -> None:
    truth = np.ones((8, 8), bool)
    result = EvalResult()
    result.add(EvalItem("a", truth, None, "s"), truth, worst_k=0, tile_px=8)
    assert "by_skin_tone" not in result.summary()
