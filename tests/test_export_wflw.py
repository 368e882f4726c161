"""``occgen export --format wflw`` (occgen/run/export_wflw.py): a store made with ``--labels landmarks`` exported
in WFLW's layout parses back to the store's points and, per point, occlusion = 1 - landmark_visible."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import zarr
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.labels import LANDMARK_NAMES, LANDMARK_SCHEME
from occgen.run.export_wflw import wflw_lines
from occgen.store import open_store
from tests.test_export_resume import noise_store
from tests.test_landmarks import write_full_parsing

runner = CliRunner()


def read_wflw(root: Path, points: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, list[int]]]:
    """Parse the two lists back: image name -> (K, 2) points, -> the 4 rectangle numbers and 6 attributes, -> K
    occlusion flags. The WFLW line is 2K + 4 + 6 numbers then the name."""
    coords, rects, flags = {}, {}, {}
    for line in (root / "WFLW_annotations" / f"list_{points}pt_rect_attr.txt").read_text().splitlines():
        fields = line.split(" ")
        assert len(fields) == 2 * points + 4 + 6 + 1
        coords[fields[-1]] = np.array(fields[: 2 * points], np.float64).reshape(points, 2)
        rects[fields[-1]] = np.array(fields[2 * points : -1], np.float64)
    for line in (root / "WFLW_annotations" / f"list_{points}pt_occlusion.txt").read_text().splitlines():
        fields = line.split(" ")
        assert len(fields) == points + 1
        flags[fields[-1]] = [int(f) for f in fields[:-1]]
    return coords, rects, flags


def test_wflw_export_gives_the_stores_points_and_occlusion_flags(tmp_path: Path, face_folder: Path) -> None:
    write_full_parsing(face_folder)
    store = tmp_path / "s.zarr"
    args = ["generate", "randocc", "--n", "8", "--size", "64", "--workers", "1", "--seed", "5", "--shard-size", "4",
            "--no-preview", "--faces", str(face_folder), "--out", str(store), "--labels", "landmarks"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = tmp_path / "wflw"
    result = runner.invoke(app, ["export", str(store), "--out", str(out), "--format", "wflw", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "exported 8 faces" in " ".join(result.output.split())
    k = len(LANDMARK_NAMES)
    coords, rects, flags = read_wflw(out, k)
    reader = open_store(store)
    assert (out / "WFLW_annotations" / "points.txt").read_text().split() == [LANDMARK_SCHEME, *LANDMARK_NAMES]
    lines = (out / "WFLW_annotations" / f"list_{k}pt_rect_attr.txt").read_text().splitlines()
    assert [line.rsplit(" ", 1)[1] for line in lines] == [f"{reader[i].metadata['sample_id']}.png" for i in range(8)]
    covered = 0
    for i in range(len(reader)):
        name = f"{reader[i].metadata['sample_id']}.png"
        points, visible = reader.label("landmarks", i), reader.label("landmark_visible", i)
        assert np.allclose(coords[name], points, atol=1e-5)
        assert flags[name] == (1 - visible.astype(int)).tolist()
        box, attributes = rects[name][:4], rects[name][4:]
        assert np.allclose(box, [*points.min(axis=0), *points.max(axis=0)], atol=1e-5)
        assert attributes.tolist() == [0, 0, 0, 0, int((visible == 0).any()), 0]  # WFLW's occlusion attribute
        covered += int((visible == 0).sum())
        image = cv2.cvtColor(cv2.imread(str(out / "WFLW_images" / name)), cv2.COLOR_BGR2RGB)
        assert np.array_equal(image, reader[i].image)  # png: the store's pixels
    assert covered > 0  # the store has occluded points: the flags were tested both ways
    assert (out / "skipped.txt").read_text() == ""


def test_a_sample_with_a_missing_point_is_skipped_and_listed(tmp_path: Path) -> None:
    store = noise_store(tmp_path / "s.zarr", n=8, points=True)
    group = zarr.open_group(str(store), mode="r+")
    points = group["landmarks"][...]
    points[2, 4] = np.nan
    group["landmarks"][...] = points
    visible = group["landmark_visible"][...]
    visible[5, [0, 3]] = 0
    group["landmark_visible"][...] = visible
    out = tmp_path / "wflw"
    result = runner.invoke(app, ["export", str(store), "--out", str(out), "--format", "wflw", "--image-format", "jpg",
                                 "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "exported 7 faces" in said and "1 samples with a missing point skipped" in said
    assert (out / "skipped.txt").read_text() == "noise-00000002\n"
    coords, _, flags = read_wflw(out, 13)
    assert sorted(coords) == sorted(f"noise-{i:08d}.jpg" for i in range(8) if i != 2)
    assert sorted(p.name for p in (out / "WFLW_images").iterdir()) == sorted(coords)
    assert flags["noise-00000005.jpg"] == [1, 0, 0, 1, *[0] * 9]
    assert wflw_lines(points[2], visible[2], "x.png") is None


def test_a_store_without_landmarks_is_refused_naming_the_option(tmp_path: Path) -> None:
    store = noise_store(tmp_path / "bare.zarr", n=4)
    result = runner.invoke(app, ["export", str(store), "--out", str(tmp_path / "o"), "--format", "wflw"])
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and "needs the landmarks label" in said and "--labels landmarks" in said
