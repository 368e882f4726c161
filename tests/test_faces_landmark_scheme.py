"""``occgen generate faces --landmark-scheme source`` (occgen/recipes/faces.py): a C-WO store keeps each face's own
five or 68 points, so ``train --crops`` and ``evaluate --crops`` can re-frame faces whose parsing has no eyes (LFW
Part Labels); at the default the card and the points are as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.sources.landmark_files import fit_square_points
from occgen.store.schema import ShardReader
from occgen.train.crops import sample_points
from tests.test_landmark_store import FIVE, faces_with_points

runner = CliRunner()


def generate_faces(faces: Path, out: Path, *extra: str) -> str:
    args = ["generate", "faces", "--faces", str(faces), "--out", str(out), "--size", "64", "--workers", "1",
            "--no-preview", "--labels", "landmarks", *extra]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == (1 if "bare" in str(faces) else 0), result.output
    return " ".join(result.output.split())


def test_faces_store_the_faces_own_five_points(tmp_path: Path) -> None:
    faces = faces_with_points(tmp_path / "faces", {f"face{i}": "txt5" for i in range(3)})
    generate_faces(faces, tmp_path / "own.zarr", "--landmark-scheme", "source")
    reader = ShardReader(tmp_path / "own.zarr")
    assert reader.card["labels"]["landmarks"]["scheme"] == "five-point"
    assert reader.card["params"] == {"landmark_scheme": "source"}
    expected = fit_square_points(np.array(FIVE, np.float64), (256, 256), 64)  # letterboxed with the face
    for i in range(len(reader)):
        points = reader.labels(i)["landmarks"]
        assert points.shape == (5, 2) and np.allclose(points, expected, atol=1e-4)
        assert reader.labels(i)["landmark_visible"].tolist() == [1] * 5  # no occluder
        assert np.allclose(sample_points(points), expected, atol=1e-4)  # what --crops aligns by
    generate_faces(faces, tmp_path / "derived.zarr")
    derived = ShardReader(tmp_path / "derived.zarr")
    assert derived.card["params"] == {} and derived.card["labels"]["landmarks"]["scheme"] == "occgen-parsing-13"
    points = derived.labels(0)["landmarks"]
    assert points.shape == (13, 2) and np.isnan(points).all()  # no parsing map, no eyes: what --crops cannot use
    assert sample_points(points) is None or not np.isfinite(sample_points(points)).all()


def test_a_face_without_a_file_is_named_before_the_store_exists(tmp_path: Path) -> None:
    faces = faces_with_points(tmp_path / "bare", {"face0": "txt5", "face1": ""})
    said = generate_faces(faces, tmp_path / "s.zarr", "--landmark-scheme", "source")
    assert "face1 has no landmark file" in said and "--landmark-scheme: derived" in said
    assert not (tmp_path / "s.zarr").exists()
