"""``occgen preview --draw landmarks,instances,anchors`` (occgen/run/preview.py): the drawn pixels are where the
points, the instance outlines and the anchored placements' targets are, points coloured by visibility; a drawing
the store cannot make is a one-line error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.imageio import read_image
from occgen.run.preview import (
    ANCHOR_RGB,
    COVERED_RGB,
    INSTANCE_COLOURS,
    UNKNOWN_RGB,
    VISIBLE_RGB,
    anchor_targets,
    draw_anchors,
    draw_instances,
    draw_landmarks,
    instance_outlines,
)
from occgen.store import open_store
from tests import test_placement
from tests.test_landmarks import write_full_parsing

runner = CliRunner()
parsed_faces = test_placement.parsed_faces  # the face folder with parsing/ (a fixture)


def test_landmark_dots_sit_on_the_scaled_points_coloured_by_visibility() -> None:
    tile = np.zeros((40, 40, 3), np.uint8)
    points = np.array([[10.0, 20.0], [60.2, 30.0], [np.nan, np.nan], [79.9, 0.0]], np.float32)
    draw_landmarks(tile, points, np.array([1, 0, 1, 1], np.uint8), scale=0.5)
    assert (tile[9:12, 4:7] == VISIBLE_RGB).all()  # (10, 20) x 0.5 -> col 5, row 10
    assert (tile[14:17, 29:32] == COVERED_RGB).all()  # (60.2, 30) x 0.5 -> col 30, row 15
    assert (tile[0:2, 39] == VISIBLE_RGB).all()  # (79.9, 0) -> col 40: clipped at the edge, still drawn
    drawn = tile.any(axis=2)
    assert drawn.sum() == 9 + 9 + 2 * 1  # the NaN point draws nothing; the edge dot keeps its 2 x 1 inside part
    unknown = np.zeros((40, 40, 3), np.uint8)
    draw_landmarks(unknown, points[:1], None, scale=1.0)
    assert (unknown[19:22, 9:12] == UNKNOWN_RGB).all()


def test_instance_outlines_are_the_boundary_pixels_of_each_instance() -> None:
    instances = np.zeros((12, 12), np.uint8)
    instances[2:7, 2:7] = 1
    instances[4:10, 5:10] = 2  # over instance 1
    outline = instance_outlines(instances)
    assert outline[2, 2] == 1 and outline[2, 4] == 1 and outline[3, 3] == 0  # corner, edge, inside
    assert outline[4, 5] == 2 and outline[9, 9] == 2 and outline[6, 7] == 0
    assert outline[4, 4] == 1  # instance 1's pixel beside instance 2 is on its outline
    assert not outline[instances == 0].any()
    tile = np.zeros((24, 24, 3), np.uint8)
    draw_instances(tile, instances)  # x 2, nearest
    assert (tile[4, 4] == INSTANCE_COLOURS[0]).all() and (tile[19, 19] == INSTANCE_COLOURS[1]).all()
    assert not tile[7, 7].any()


def test_preview_draws_stored_landmarks_and_instances(tmp_path: Path, face_folder: Path) -> None:
    write_full_parsing(face_folder)
    out = tmp_path / "s.zarr"
    args = ["generate", "randocc", "--n", "2", "--size", "64", "--workers", "1", "--seed", "3", "--shard-size", "2",
            "--no-preview", "--faces", str(face_folder), "--out", str(out),
            "--labels", "landmarks,instances"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    plain, drawn = tmp_path / "plain.png", tmp_path / "drawn.png"
    for png, extra in ((plain, []), (drawn, ["--draw", "landmarks,instances"])):
        result = runner.invoke(app, ["preview", str(out), "--out", str(png), "--k", "2", "--tile", "64", *extra])
        assert result.exit_code == 0, result.output
    before, after = read_image(plain), read_image(drawn)
    assert np.array_equal(before[:64], after[:64]) and np.array_equal(before[128:], after[128:])  # overlay only
    store = open_store(out)
    for column in range(2):
        overlay = after[64:128, 64 * column : 64 * (column + 1)]
        points, visible = store.label("landmarks", column), store.label("landmark_visible", column)
        outline = instance_outlines(store.label("occluder_instances", column))
        for (x, y), seen in zip(points.tolist(), visible.tolist(), strict=True):
            col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
            if not outline[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2].any():  # not painted over
                assert tuple(overlay[row, col]) == (VISIBLE_RGB if seen else COVERED_RGB)
        changed = np.any(before[64:128, 64 * column : 64 * (column + 1)] != overlay, axis=2)
        assert changed[outline > 0].all()


def test_a_drawing_without_its_label_names_the_labels_value(tmp_path: Path, face_folder: Path) -> None:
    out = tmp_path / "s.zarr"
    args = ["generate", "randocc", "--n", "1", "--size", "32", "--workers", "1", "--shard-size", "1", "--no-preview",
            "--faces", str(face_folder), "--out", str(out)]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, ["preview", str(out), "--out", str(tmp_path / "p.png"), "--draw", "instances"])
    assert result.exit_code == 1
    assert "no occluder_instances array; generate it with --labels instances" in " ".join(result.output.split())
    result = runner.invoke(app, ["preview", str(out), "--out", str(tmp_path / "p.png"), "--draw", "boxes"])
    assert result.exit_code == 1 and "unknown drawing; choose from landmarks, instances, anchors" in result.output


def test_anchor_crosses_sit_on_every_anchored_target() -> None:
    meta = {"placement": {"mode": "anchored", "target_xy": [20.2, 9.6]},
            "occluders": [{"instance": 1}, {"instance": 2, "placement": {"mode": "anchored", "target_xy": [1.0, 38.0]}},
                          {"instance": 3, "placement": None}]}  # fmt: skip
    assert anchor_targets(meta) == [(20.2, 9.6), (1.0, 38.0)]
    assert anchor_targets({"placement": {"mode": "random", "requested": "anchored", "reason": "x"}}) == []
    # row 1 carries the sample's own placement (issue 25, D20): each target counted once, not twice
    meta_with_row_1 = {**meta, "occluders": [{"instance": 1, "placement": meta["placement"]}, *meta["occluders"][1:]]}
    assert anchor_targets(meta_with_row_1) == [(20.2, 9.6), (1.0, 38.0)]
    tile = np.zeros((40, 40, 3), np.uint8)
    draw_anchors(tile, anchor_targets(meta), scale=1.0)
    drawn = tile.any(axis=2)
    assert (tile[10, 18:23] == ANCHOR_RGB).all() and (tile[8:13, 20] == ANCHOR_RGB).all()  # (20.2, 9.6) -> (20, 10)
    assert (tile[38, 0:4] == ANCHOR_RGB).all() and (tile[36:40, 1] == ANCHOR_RGB).all()  # clipped at the edges
    assert drawn.sum() == 9 + 4 + 3  # a full cross; the edge one keeps 4 + 4 - 1 pixels
    assert not drawn[0:5].any()


def test_preview_draws_the_anchors_of_an_anchored_store(tmp_path: Path, parsed_faces: Path) -> None:
    out = tmp_path / "anchored.zarr"
    args = ["generate", "natocc", "--out", str(out), "--n", "2", "--size", "64", "--workers", "1", "--no-preview",
            "--faces", str(parsed_faces), "--placement", "anchored", "--objects-frac", "0"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    png = tmp_path / "p.png"
    result = runner.invoke(app, ["preview", str(out), "--out", str(png), "--k", "2", "--tile", "64",
                                 "--draw", "anchors"])  # fmt: skip
    assert result.exit_code == 0, result.output
    sheet, store = read_image(png), open_store(out)
    for column in range(2):
        ((x, y),) = anchor_targets(store[column].metadata)
        col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        overlay = sheet[64:128, 64 * column : 64 * (column + 1)]
        assert (overlay[row, col - 2 : col + 3] == ANCHOR_RGB).all()
        assert (overlay[row - 2 : row + 3, col] == ANCHOR_RGB).all()
    plain = tmp_path / "plain.zarr"
    result = runner.invoke(app, [*args[:3], str(plain), *args[4:-4], "--objects-frac", "0"])  # random placement
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["preview", str(plain), "--out", str(png), "--draw", "anchors"])
    assert result.exit_code == 1 and "generate it with --placement anchored" in " ".join(result.output.split())
