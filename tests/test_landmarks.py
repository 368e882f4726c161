"""Landmarks (issue 25, first increment): derived from parsing maps (occgen/core/landmarks.py), stored with their
visibility by ``--labels landmarks`` (occgen/recipes/labels.py, occgen/store/label_storage.py PointStorage),
moved as keypoints by FaceOcc's whole-sample affine, exported, and cheap in bytes."""

from __future__ import annotations

import json
import tarfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ArrayContractError, ConfigError
from occgen.core.imageio import write_png
from occgen.core.labels import GENERIC_FACE, LANDMARK_FLIP_PERM, LANDMARK_NAMES, LANDMARK_SCHEME, parse_labels
from occgen.core.landmarks import landmark_visibility, landmarks_from_parsing
from occgen.core.targets import HorizontalFlip, Target, Targets, apply_geometric
from occgen.recipes.labels import build_labels
from occgen.store.schema import ShardReader

runner = CliRunner()
K = len(LANDMARK_NAMES)
INDEX = {name: i for i, name in enumerate(LANDMARK_NAMES)}
# parsing ids written out (CelebAMask-HQ order, tests do not take them from occgen): skin 1, nose 2, l_eye 4,
# r_eye 5, l_brow 6, r_brow 7, mouth 10, u_lip 11, l_lip 12, hair 13
REGIONS = {"left_eye": (4,), "right_eye": (5,), "left_brow": (6,), "right_brow": (7,), "nose_center": (2,),
           "mouth_center": (10, 11, 12), "mouth_left": (10, 11, 12), "mouth_right": (10, 11, 12),
           "upper_lip": (11,), "lower_lip": (12,), "chin": (1,), "jaw_left": (1,), "jaw_right": (1,)}  # fmt: skip


def full_parsing(size: int = 96) -> np.ndarray:
    """A face with every part the scheme uses, drawn at known places: skin on an ellipse (columns 22..74, rows
    16..84 at 96²), hair around it; the subject's left parts on the image's right."""
    parsing = np.full((size, size), 13, np.uint8)
    cv2.ellipse(parsing, (48, 50), (26, 34), 0, 0, 360, 1, -1)
    parsing[38:44, 56:64] = 4  # l_eye
    parsing[38:44, 32:40] = 5  # r_eye
    parsing[31:34, 55:66] = 6  # l_brow
    parsing[31:34, 30:41] = 7  # r_brow
    parsing[45:58, 44:52] = 2  # nose
    parsing[63:66, 40:57] = 11  # u_lip
    parsing[66:68, 41:56] = 10  # mouth
    parsing[68:72, 40:57] = 12  # l_lip
    return parsing


def centroid(parsing: np.ndarray, ids: tuple[int, ...]) -> tuple[float, float]:
    rows, cols = np.nonzero(np.isin(parsing, ids))
    return float(cols.mean()), float(rows.mean())


def in_region(parsing: np.ndarray, point: np.ndarray, ids: tuple[int, ...]) -> bool:
    col, row = int(np.floor(point[0] + 0.5)), int(np.floor(point[1] + 0.5))
    return 0 <= row < parsing.shape[0] and 0 <= col < parsing.shape[1] and int(parsing[row, col]) in ids


def test_scheme_names_and_flip_permutation() -> None:
    assert LANDMARK_SCHEME == "occgen-parsing-13" and K == 13
    assert LANDMARK_NAMES[:2] == ("left_eye", "right_eye") and LANDMARK_NAMES[5] == "mouth_center"
    for i, name in enumerate(LANDMARK_NAMES):
        partner = LANDMARK_NAMES[LANDMARK_FLIP_PERM[i]]
        assert partner == swap_side(name), name
    assert parse_labels("landmarks") == ("landmarks", "landmark-visible")  # points never without visibility
    assert parse_labels("landmark-visible,parsing") == ("parsing", "landmarks", "landmark-visible")


def test_parsing_landmarks_are_centroids_and_extremes_inside_their_regions() -> None:
    parsing = full_parsing()
    points = landmarks_from_parsing(parsing)
    assert points.shape == (K, 2) and points.dtype == np.float32 and np.isfinite(points).all()
    for name, ids in REGIONS.items():
        assert in_region(parsing, points[INDEX[name]], ids), name
    for name in ("left_eye", "right_eye", "left_brow", "right_brow", "nose_center", "upper_lip", "lower_lip",
                 "mouth_center"):  # fmt: skip
        assert np.allclose(points[INDEX[name]], centroid(parsing, REGIONS[name]), atol=1e-4), name
    # the subject's left eye is on the image's right here, so are its mouth corner and jaw point
    assert points[INDEX["mouth_left"]][0] == 56 and points[INDEX["mouth_right"]][0] == 40
    skin_rows, skin_cols = np.nonzero(parsing == 1)
    assert points[INDEX["jaw_left"]][0] > points[INDEX["mouth_left"]][0] > points[INDEX["mouth_center"]][0]
    assert points[INDEX["chin"]][1] == skin_rows[np.abs(skin_cols - 48) <= 1].max()  # the skin's bottom at the axis
    assert points[INDEX["chin"]][1] > points[INDEX["lower_lip"]][1]


def test_missing_parts_are_nan_and_generic_faces_all_nan() -> None:
    parsing = full_parsing()
    parsing[parsing == 4] = 3  # glasses painted over the left eye
    points = landmarks_from_parsing(parsing)
    assert np.isnan(points[INDEX["left_eye"]]).all() and np.isfinite(points[INDEX["right_eye"]]).all()
    assert np.isfinite(points[INDEX["mouth_left"]]).all()  # the brows still give the face's frame
    parsing[np.isin(parsing, (6, 7))] = 13  # and hair over the brows: no frame left
    points = landmarks_from_parsing(parsing)
    for name in ("mouth_left", "mouth_right", "chin", "jaw_left", "jaw_right"):
        assert np.isnan(points[INDEX[name]]).all(), name
    assert np.isfinite(points[INDEX["mouth_center"]]).all()
    generic = np.zeros((64, 64), np.uint8)
    generic[10:50, 12:52] = GENERIC_FACE
    assert np.isnan(landmarks_from_parsing(generic)).all()
    with pytest.raises(ArrayContractError, match=r"expected \(H, W\) uint8, got \(4, 4\) float64"):
        landmarks_from_parsing(np.zeros((4, 4)))


def test_mirrored_parsing_gives_the_flipped_and_permuted_landmarks() -> None:
    parsing = full_parsing()
    mirrored = parsing[:, ::-1].copy()
    for a, b in ((4, 5), (6, 7)):  # a mirror swaps the sides' names (written here, not taken from occgen)
        mirrored[parsing[:, ::-1] == a], mirrored[parsing[:, ::-1] == b] = b, a
    moved = apply_geometric(Targets({"p": Target.keypoints(landmarks_from_parsing(parsing), LANDMARK_FLIP_PERM)},
                                    canvas=parsing.shape), HorizontalFlip()).array("p")  # fmt: skip
    direct = landmarks_from_parsing(mirrored)
    chin = INDEX["chin"]
    others = [i for i in range(K) if i != chin]
    assert np.allclose(moved[others], direct[others], atol=1e-4)
    assert abs(moved[chin][0] - direct[chin][0]) <= 5 and moved[chin][1] == direct[chin][1]  # ties on the bottom row
    for name, ids in REGIONS.items():
        assert in_region(mirrored, moved[INDEX[name]], ids), name


def test_visibility_is_the_occluder_alpha_test() -> None:
    points = np.array([[1.0, 2.0], [2.4, 2.6], [np.nan, np.nan], [-1.0, 0.0], [3.0, 4.0], [4.6, 0.0]], np.float32)
    mask = np.zeros((5, 5), np.uint8)
    mask[3, 2] = 128  # covered: alpha >= 0.5 (x 2.4 -> column 2, y 2.6 -> row 3)
    mask[2, 1] = 127
    assert landmark_visibility(points, mask).tolist() == [1, 0, 0, 0, 1, 0]  # NaN, left of and right of the image
    with pytest.raises(ArrayContractError, match="landmark visibility"):
        landmark_visibility(points, mask.astype(np.float32))


def write_full_parsing(face_folder: Path) -> None:
    for mask_path in sorted((face_folder / "masks").glob("*.png")):
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) > 0
        write_png(face_folder / "parsing" / mask_path.name, np.where(mask, full_parsing(), 0).astype(np.uint8))


def check_stored_landmarks(reader: ShardReader) -> int:
    """landmark_visible equals the alpha test at every landmark; points are finite and in their regions on the
    face's parsing map (stored too); returns how many landmarks were covered."""
    covered = 0
    assert reader.card["labels"]["landmarks"]["names"] == list(LANDMARK_NAMES)
    for i in range(len(reader)):
        sample, labels = reader[i], reader.labels(i)
        points, visible = labels["landmarks"], labels["landmark_visible"]
        assert points.shape == (K, 2) and points.dtype == np.float32 and np.isfinite(points).all()
        assert visible.shape == (K,) and visible.dtype == np.uint8
        for k, (x, y) in enumerate(points.tolist()):
            col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
            inside = 0 <= row < reader.size and 0 <= col < reader.size
            expected = inside and sample.occluder_mask[row, col] < 128
            assert visible[k] == expected, (i, LANDMARK_NAMES[k])
            covered += inside and not expected
    return covered


def test_randocc_store_landmarks_visibility_and_determinism(tmp_path: Path, face_folder: Path) -> None:
    write_full_parsing(face_folder)
    stores = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}.zarr"
        args = ["generate", "randocc", "--n", "8", "--size", "64", "--workers", str(workers), "--seed", "5",
                "--shard-size", "4", "--no-preview", "--faces", str(face_folder), "--out", str(out),
                "--labels", "landmarks,parsing"]  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        stores[workers] = out
    reader = ShardReader(stores[1])
    assert reader.label_names == ("parsing", "landmarks", "landmark_visible")
    assert check_stored_landmarks(reader) > 0  # some landmarks were covered: the test saw both answers
    for i in range(len(reader)):  # the face is not moved: the points are its parsing map's, at their parts
        points = reader.labels(i)["landmarks"]
        face = np.where(np.isin(reader.labels(i)["parsing"], (20, 21, 22)), 255, reader.labels(i)["parsing"])
        assert np.isfinite(points).all()
        for name in ("left_eye", "right_eye", "nose_center", "mouth_center", "chin"):
            assert in_region(face, points[INDEX[name]], (*REGIONS[name], 255)), (i, name)
    for name in ("landmarks", "landmark_visible"):  # same bytes whatever the worker count
        for a, b in zip(sorted((stores[1] / name).rglob("*")), sorted((stores[2] / name).rglob("*")), strict=True):
            assert a.name == b.name and (a.is_dir() or a.read_bytes() == b.read_bytes())
    verified = runner.invoke(app, ["verify", str(stores[1])])
    assert verified.exit_code == 0, verified.output

    folder = tmp_path / "folder"
    assert runner.invoke(app, ["export", str(stores[1]), "--out", str(folder), "--workers", "1"]).exit_code == 0
    stem = reader[3].metadata["sample_id"]
    written = json.loads((folder / "landmarks" / f"{stem}.json").read_text())
    assert np.allclose(written["landmarks"], reader.labels(3)["landmarks"])
    assert written["landmark_visible"] == reader.labels(3)["landmark_visible"].tolist()
    assert json.loads((folder / "labels.json").read_text())["landmarks"]["names"] == list(LANDMARK_NAMES)
    shards = tmp_path / "wds"
    result = runner.invoke(app, ["export", str(stores[1]), "--out", str(shards), "--format", "webdataset",
                                 "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    found = {}
    for tar_path in sorted(shards.rglob("*.tar")):
        with tarfile.open(tar_path) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    meta = json.loads(tar.extractfile(member).read())
                    found[meta["store_index"]] = meta
    assert len(found) == 8
    assert np.allclose(found[3]["landmarks"], reader.labels(3)["landmarks"])
    assert found[3]["landmark_visible"] == reader.labels(3)["landmark_visible"].tolist()
    hf = tmp_path / "hf"
    result = runner.invoke(app, ["export", str(stores[1]), "--out", str(hf), "--format", "hf", "--workers", "1"])
    assert result.exit_code == 0, result.output
    import pyarrow.parquet as pq

    rows = [json.loads(m) for f in sorted(hf.rglob("*.parquet")) for m in pq.read_table(f)["metadata"].to_pylist()]
    by_index = {row["store_index"]: row for row in rows}
    assert by_index[5]["landmark_visible"] == reader.labels(5)["landmark_visible"].tolist()
    mix = tmp_path / "mix.zarr"
    result = runner.invoke(app, ["mix", f"{stores[1]}:4", f"{stores[2]}:4", "--out", str(mix), "--pick", "prefix"])
    assert result.exit_code == 0, result.output
    from occgen.store import open_store

    mixed = open_store(mix)
    assert "landmarks" in mixed.label_names and "landmark_visible" in mixed.label_names
    assert np.array_equal(mixed.labels(0)["landmarks"], reader.labels(0)["landmarks"])


def test_natocc_store_landmark_visibility(tmp_path: Path, face_folder: Path) -> None:
    from occgen.appearance.harmonise import HarmoniseConfig, harmoniser_from_config
    from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
    from occgen.run.generate import generate
    from occgen.sources.cutouts import RGBAFolder
    from occgen.sources.faces import FaceFolder
    from occgen.sources.hands import MattedHands

    write_full_parsing(face_folder)
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[8:32, 8:32] = (30, 60, 200, 255)
    write_png(tmp_path / "objects" / "cup.png", rgba)
    config = replace(NatOccConfig(hand_max_side_px=96), objects_frac=0.5)
    recipe = NatOccRecipe(
        FaceFolder(face_folder), MattedHands(None, max_side_px=96), config, seed=3, size=64,
        objects=RGBAFolder(tmp_path / "objects"), harmoniser=harmoniser_from_config(HarmoniseConfig()),
    )  # fmt: skip
    out = tmp_path / "natocc.zarr"
    generate(recipe, out, n=8, shard_size=4, workers=1, labels=parse_labels("landmarks"))
    reader = ShardReader(out)
    assert reader.label_names == ("landmarks", "landmark_visible")
    check_stored_landmarks(reader)
    sample = recipe.make(0)
    with pytest.raises(ConfigError, match="needs the sample's occluder_mask"):
        build_labels(sample.labels, ("landmarks",))


def test_faceocc_flip_keeps_left_eye_on_the_left_eye(tmp_path: Path, face_folder: Path) -> None:
    """A flipped sample's stored left_eye lies in the l_eye region of its stored (swapped) parsing map: a mirror
    image shows a face whose left eye is the one that was the right eye, moved to where the left eye was."""
    from test_recipe_faceocc import _recipe

    from occgen.recipes.faceocc_transforms import SampleAffineConfig
    from occgen.run.generate import generate

    write_full_parsing(face_folder)
    flip = SampleAffineConfig(flip_p=1.0, degrees=8.0, scale_range=(0.95, 1.05), shift_max=0.03)
    recipe = _recipe(tmp_path, face_folder, real_frac=0.0, sample_affine=flip)
    out = tmp_path / "flipped.zarr"
    generate(recipe, out, n=4, shard_size=2, labels=parse_labels("landmarks,parsing"))
    reader = ShardReader(out)
    check_stored_landmarks(reader)
    for i in range(4):
        assert reader[i].metadata["params"]["sample_affine"]["flip"]
        points, parsing = reader.labels(i)["landmarks"], reader.labels(i)["parsing"]
        face = np.where(parsing >= 20, 255, parsing)  # an occluder may sit on a part: count it as the part
        for name in ("left_eye", "right_eye", "left_brow", "right_brow", "nose_center", "mouth_center"):
            assert in_region(face, points[INDEX[name]], (*REGIONS[name], 255)), (i, name)
        assert points[INDEX["left_eye"]][0] > points[INDEX["right_eye"]][0]  # l_eye was drawn on the image right
        assert points[INDEX["mouth_left"]][0] > points[INDEX["mouth_right"]][0]
    # a pure flip: point k is the unflipped sample's partner point, mirrored (x -> 63 - x)
    flip_only = SampleAffineConfig(flip_p=1.0, degrees=0.0, scale_range=(1.0, 1.0), shift_max=0.0)
    flipped = _recipe(tmp_path, face_folder, real_frac=0.0, sample_affine=flip_only)
    plain = _recipe(tmp_path, face_folder, real_frac=0.0, sample_affine=SampleAffineConfig(enabled=False))
    for i in range(2):
        a, b = flipped.make(i), plain.make(i)
        got = build_labels(a.labels, ("landmarks",), occluder_mask=a.occluder_mask)["landmarks"]
        unflipped = build_labels(b.labels, ("landmarks",), occluder_mask=b.occluder_mask)["landmarks"]
        partner = unflipped[[LANDMARK_NAMES.index(swap_side(name)) for name in LANDMARK_NAMES]]
        assert np.allclose(got, np.stack([63 - partner[:, 0], partner[:, 1]], axis=1), atol=1e-4)


def swap_side(name: str) -> str:
    return name.replace("left", "R").replace("right", "left").replace("R", "right")


def test_landmark_labels_cost_under_five_percent_of_the_store_bytes(tmp_path: Path) -> None:
    """Issue 25's target on the demo (64 samples at 256²): the bytes a store gains with --labels landmarks (the
    two arrays and the card's longer labels key) are at most 0.05x the store without them (measured 0.0008)."""

    def store_bytes(labels: str) -> int:
        out = tmp_path / f"{labels}.zarr"
        args = ["generate", "randocc", "--n", "64", "--size", "256", "--workers", "1", "--no-preview",
                "--out", str(out), "--labels", labels]  # fmt: skip
        assert runner.invoke(app, args).exit_code == 0
        return sum(p.stat().st_size for p in out.rglob("*") if p.is_file())

    plain, labelled = store_bytes("none"), store_bytes("landmarks")
    assert 0 < labelled - plain <= 0.05 * plain
