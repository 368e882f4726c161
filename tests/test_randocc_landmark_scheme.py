"""``randocc.landmark_scheme: source`` (occgen/recipes/randocc.py, issue 25): a RandOcc store keeps each face's own
68 / 5 points, named in the card; at the default (``derived``) the card's params do not name the field, so the
bytes of RandOcc stores made before it are unchanged (tests/test_store_digest.py pins them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from occgen.core.errors import ConfigError
from occgen.core.landmark_schemes import get_scheme
from occgen.recipes.labels import build_labels
from occgen.recipes.randocc import RandOccConfig, RandOccRecipe
from occgen.run.generate import generate
from occgen.sources.faces import FaceFolder
from occgen.sources.landmark_files import fit_square_points
from occgen.sources.shapes import RandomShapes
from occgen.sources.textures import DTDTextures
from occgen.store.schema import ShardReader
from tests.test_landmark_sources import ibug68_face
from tests.test_landmark_store import faces_with_points


def randocc(faces: Path, dtd_root: Path, **config: object) -> RandOccRecipe:
    occluders = RandomShapes(DTDTextures(dtd_root), canvas_px=64)
    config_ = RandOccConfig(canvas_px=64, **config)  # type: ignore[arg-type]
    return RandOccRecipe(FaceFolder(faces), occluders, config_, seed=7, size=128)


def test_randocc_stores_the_faces_own_68_points(tmp_path: Path, dtd_root: Path) -> None:
    faces = faces_with_points(tmp_path / "faces", {f"face{i}": "pts" for i in range(3)})
    out = tmp_path / "own.zarr"
    recipe = randocc(faces, dtd_root, landmark_scheme="source")
    generate(recipe, out, n=6, shard_size=3, workers=1, labels=("landmarks",))
    reader = ShardReader(out)
    own = get_scheme("ibug-68")
    assert reader.card["labels"]["landmarks"]["scheme"] == "ibug-68"
    assert reader.card["labels"]["landmarks"]["names"] == list(own.names)
    assert reader.card["params"]["landmark_scheme"] == "source"
    expected = fit_square_points(ibug68_face(), (256, 256), 128)  # the file's points, letterboxed with the face
    covered = 0
    for i in range(len(reader)):
        points, visible = reader.labels(i)["landmarks"], reader.labels(i)["landmark_visible"]
        assert points.shape == (68, 2) and np.allclose(points, expected, atol=1e-4)
        cols, rows = np.floor(points[:, 0] + 0.5).astype(int), np.floor(points[:, 1] + 0.5).astype(int)
        assert visible.tolist() == (reader[i].occluder_mask[rows, cols] < 128).astype(int).tolist()
        covered += int((visible == 0).sum())
    assert covered > 0  # the occlusion test saw both answers
    assert "randocc.landmark_scheme: derived" in (recipe.clip_support() or "")


def test_the_default_leaves_the_card_and_the_points_as_before(tmp_path: Path, dtd_root: Path) -> None:
    faces = faces_with_points(tmp_path / "faces", {f"face{i}": "pts" for i in range(2)})
    recipe = randocc(faces, dtd_root)
    assert recipe.landmark_scheme is None and recipe.clip_support() is None
    assert "landmark_scheme" not in recipe.params()  # the card's params at the default: no new key
    sample = recipe.make(0)
    derived = build_labels(sample.labels, ("landmarks",), occluder_mask=sample.occluder_mask)["landmarks"]
    assert derived.shape == (13, 2) and np.isnan(derived).all()  # no parsing map: derived points are NaN, as before
    with pytest.raises(ConfigError, match="randocc.landmark_scheme must be one of derived, source, got 'dlib'"):
        RandOccConfig(landmark_scheme="dlib")
    missing = faces_with_points(tmp_path / "bare", {"face0": "pts", "face1": ""})
    with pytest.raises(ConfigError, match="face1 has no landmark file.*randocc.landmark_scheme: derived"):
        randocc(missing, dtd_root, landmark_scheme="source")


def test_params_file_sets_the_scheme_through_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from occgen.cli.main import app

    faces = faces_with_points(tmp_path / "faces", {f"face{i}": "txt5" for i in range(2)})
    params = tmp_path / "params.yaml"
    params.write_text("randocc:\n  landmark_scheme: source\n")
    out = tmp_path / "s.zarr"
    args = ["generate", "randocc", "--out", str(out), "--n", "2", "--size", "64", "--workers", "1", "--no-preview",
            "--faces", str(faces), "--labels", "landmarks", "--params", str(params)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    reader = ShardReader(out)
    assert reader.card["labels"]["landmarks"]["scheme"] == "five-point"
    assert reader.labels(0)["landmarks"].shape == (5, 2)
