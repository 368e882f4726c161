"""Issue 25, the rest: a face's own landmark scheme stored (occgen/recipes/landmark_label.py, store/label_table.py),
flips of the 68- and 5-point schemes, the soft eyewear label (face_mask_soft), the hair family over the brow
(occgen/sources/hair.py) and the CelebAMask-HQ parsing read once per face under anchored placement."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.alignment import FIVE_POINT_NAMES
from occgen.core.errors import ConfigError
from occgen.core.imageio import write_png
from occgen.core.labels import LANDMARK_NAMES
from occgen.core.landmark_schemes import get_scheme, parsing13_of
from occgen.core.landmarks import landmarks_from_parsing
from occgen.core.targets import AffineWarp, HorizontalFlip, Target, Targets, apply_geometric
from occgen.recipes.labels import build_labels
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
from occgen.recipes.placement import family_of
from occgen.run.generate import generate
from occgen.sources.eyewear import ProceduralEyewear
from occgen.sources.faces import CelebAMaskHQ, FaceFolder
from occgen.sources.hair import render_fringe, sample_fringe
from occgen.sources.hands import MattedHands
from occgen.sources.landmark_files import fit_square_points
from occgen.sources.objects import CocoObjects
from occgen.sources.wearables import Wearables
from occgen.store.schema import ShardReader
from occgen.train.crops import sample_points
from tests import test_placement
from tests.test_export_dfl import read_dfl_dict
from tests.test_landmark_sources import ibug68_face, write_pts
from tests.test_placement import alpha_centroid, face_parsing, natocc

runner = CliRunner()
parsed_faces = test_placement.parsed_faces  # the face folder with parsing/ (a fixture)
AT = {name: i for i, name in enumerate(LANDMARK_NAMES)}
FIVE = np.array([[90.0, 100.0], [160.0, 101.0], [125.0, 140.0], [100.0, 180.0], [150.0, 181.0]])


def faces_with_points(root: Path, files: dict[str, str]) -> Path:
    """A face folder of 256² noise faces (elliptic masks, no parsing maps); ``files``: stem -> "pts" (68 points,
    ``landmarks/<stem>.pts``), "txt5" (five points, ``landmarks/<stem>.txt``) or "" (no file)."""
    rng = np.random.default_rng(3)
    mask = np.zeros((256, 256), np.uint8)
    cv2.ellipse(mask, (128, 140), (96, 120), 0, 0, 360, 255, -1)
    for stem, kind in files.items():
        write_png(root / "images" / f"{stem}.png", rng.integers(60, 200, (256, 256, 3), dtype=np.uint8))
        write_png(root / "masks" / f"{stem}.png", mask)
        if kind == "pts":
            write_pts(root / "landmarks" / f"{stem}.pts", ibug68_face())
        elif kind == "txt5":
            (root / "landmarks").mkdir(parents=True, exist_ok=True)
            (root / "landmarks" / f"{stem}.txt").write_text("".join(f"{x},{y}\n" for x, y in FIVE))
    return root


def source_recipe(faces: Path, **changes: object) -> NatOccRecipe:
    config = replace(NatOccConfig(hand_max_side_px=128, landmark_scheme="source"), **changes)
    return NatOccRecipe(FaceFolder(faces), MattedHands(None, max_side_px=128), config, seed=5, size=128,
                        objects=CocoObjects(None, max_side_px=128))  # fmt: skip


@pytest.mark.parametrize(("kind", "scheme", "raw"), [("pts", "ibug-68", ibug68_face()), ("txt5", "five-point", FIVE)])
def test_a_source_scheme_is_stored_with_its_k_names_and_flip(tmp_path: Path, kind: str, scheme: str,
                                                             raw: np.ndarray) -> None:  # fmt: skip
    faces = faces_with_points(tmp_path / "faces", {f"face{i}": kind for i in range(3)})
    out = tmp_path / "own.zarr"
    generate(source_recipe(faces), out, n=6, shard_size=4, labels=("landmarks", "instances"))
    reader = ShardReader(out)
    own = get_scheme(scheme)
    count = len(own.names)
    card = reader.card["labels"]
    assert card["landmarks"]["scheme"] == scheme and card["landmarks"]["names"] == list(own.names)
    assert card["landmarks"]["flip_perm"] == list(own.flip_perm)
    assert card["landmark_visible"]["names"] == list(own.names)
    assert "own" in card["landmarks"]["meaning"]
    expected = fit_square_points(raw, (256, 256), 128)  # the file's points, moved with the face's letterbox
    covered = 0
    for i in range(len(reader)):
        labels, sample = reader.labels(i), reader[i]
        points, visible = labels["landmarks"], labels["landmark_visible"]
        assert points.shape == (count, 2) and points.dtype == np.float32 and visible.shape == (count,)
        assert np.allclose(points, expected, atol=1e-4)
        cols, rows = np.floor(points[:, 0] + 0.5).astype(int), np.floor(points[:, 1] + 0.5).astype(int)
        assert visible.tolist() == (sample.occluder_mask[rows, cols] < 128).astype(int).tolist()
        covered += int((visible == 0).sum())
    assert covered > 0 or count == 5  # both answers were seen (68 points: some are always covered)
    # readers that need five points take them from any stored scheme
    five = sample_points(reader.labels(0)["landmarks"])
    assert five is not None and np.isfinite(five).all()
    verified = runner.invoke(app, ["verify", str(out)])  # the arrays' shapes are checked against the card's K
    assert verified.exit_code == 0, verified.output
    folder = tmp_path / "folder"
    assert runner.invoke(app, ["export", str(out), "--out", str(folder), "--workers", "1"]).exit_code == 0
    stem = reader[2].metadata["sample_id"]
    written = json.loads((folder / "landmarks" / f"{stem}.json").read_text())
    assert len(written["landmarks"]) == len(written["landmark_visible"]) == count
    assert json.loads((folder / "labels.json").read_text())["landmarks"]["names"] == list(own.names)
    aligned = tmp_path / "dfl"  # DeepFaceLab: aligned by the scheme's five points, its own points kept
    result = runner.invoke(app, ["export", str(out), "--out", str(aligned), "--format", "dfl", "--workers", "1"])
    assert result.exit_code == 0, result.output
    value = read_dfl_dict(sorted(aligned.glob("*.jpg"))[0])
    assert value["occgen_landmark_scheme"] == scheme and len(value["landmarks"]) == count
    # a recode keeps the scheme and its K
    recoded = tmp_path / "recoded.zarr"
    result = runner.invoke(app, ["recode", str(out), "--out", str(recoded), "--image-codec", "zstd", "--workers", "1"])
    assert result.exit_code == 0, result.output
    again = ShardReader(recoded)
    assert again.card["labels"]["landmarks"]["scheme"] == scheme
    assert np.array_equal(again.labels(3)["landmarks"], reader.labels(3)["landmarks"])


def test_the_default_stays_the_parsing_scheme(tmp_path: Path) -> None:
    faces = faces_with_points(tmp_path / "faces", {"face0": "pts", "face1": "pts"})
    out = tmp_path / "derived.zarr"
    recipe = source_recipe(faces, landmark_scheme="derived")
    assert recipe.landmark_scheme is None
    generate(recipe, out, n=2, shard_size=2, labels=("landmarks",))
    reader = ShardReader(out)
    assert reader.card["labels"]["landmarks"]["scheme"] == "occgen-parsing-13"
    assert reader.labels(0)["landmarks"].shape == (13, 2)  # no parsing maps here: all NaN, as before
    assert np.isnan(reader.labels(0)["landmarks"]).all()


def test_mixed_or_missing_schemes_are_refused_naming_the_face(tmp_path: Path) -> None:
    mixed = faces_with_points(tmp_path / "mixed", {"anna": "pts", "bert": "txt5"})
    with pytest.raises(ConfigError, match="face bert has five-point landmarks and face anna has ibug-68: a store "
                                          "holds one landmark scheme"):  # fmt: skip
        source_recipe(mixed)
    missing = faces_with_points(tmp_path / "missing", {"anna": "pts", "carl": ""})
    with pytest.raises(ConfigError, match="face carl has no landmark file of 5 or 68 points .* set "
                                          "natocc.landmark_scheme: derived"):  # fmt: skip
        source_recipe(missing)
    with pytest.raises(ConfigError, match="natocc.landmark_scheme must be one of derived, source, got 'dlib'"):
        NatOccConfig(landmark_scheme="dlib")
    clip = source_recipe(faces_with_points(tmp_path / "clip", {"anna": "pts"}))
    assert "natocc.landmark_scheme: derived" in (clip.clip_support() or "")


def test_five_point_flip_swaps_the_eyes_and_mouth_corners() -> None:
    """A mirror puts the image-left eye on the image right: after the flip, point 0 (``eye_image_left``) is the
    mirrored old point 1, and so on; a reflecting affine permutes the same way."""
    five = get_scheme("five-point")
    assert five.names == FIVE_POINT_NAMES
    width = 256
    targets = Targets({"p": Target.keypoints(FIVE.astype(np.float32), flip_perm=five.flip_perm)},
                      canvas=(width, width))  # fmt: skip
    flipped = apply_geometric(targets, HorizontalFlip()).array("p")
    mirrored = FIVE.copy()
    mirrored[:, 0] = width - 1 - mirrored[:, 0]
    assert np.allclose(flipped, mirrored[[1, 0, 2, 4, 3]], atol=1e-4)
    assert flipped[0, 0] < flipped[1, 0] and flipped[3, 0] < flipped[4, 0]  # image-left is still on the left
    reflect = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0]])
    warped = apply_geometric(targets, AffineWarp.of(reflect, size=(width, width))).array("p")
    assert np.allclose(warped, flipped, atol=1e-3)
    # 68 points: the subject's left eye (42-47) becomes the right eye (36-41), mirrored
    ibug = get_scheme("ibug-68")
    points = ibug68_face().astype(np.float32)
    points[42:48, 1] += 3.0  # make the face asymmetric, so a missing swap would show
    moved = apply_geometric(Targets({"p": Target.keypoints(points, flip_perm=ibug.flip_perm)}, canvas=(256, 256)),
                            HorizontalFlip()).array("p")  # fmt: skip
    assert np.allclose(moved[36:42, 1], points[[45, 44, 43, 42, 47, 46], 1])
    assert np.allclose(parsing13_of(moved)[AT["right_eye"]], [255 - parsing13_of(points)[AT["left_eye"]][0],
                                                                parsing13_of(points)[AT["left_eye"]][1]], atol=1e-3)


def test_soft_eyewear_keeps_the_lens_alpha_in_the_soft_face_mask(parsed_faces: Path, tmp_path: Path) -> None:
    recipe = replace(natocc(parsed_faces, objects_frac=1.0, wearables_frac=1.0, eyewear_label="soft"),
                     wearables=ProceduralEyewear(styles=("clear",), iod_px=128))  # fmt: skip
    points = landmarks_from_parsing(face_parsing())
    checked = 0
    for index in range(8):
        sample = recipe.make(index)
        soft = build_labels(sample.labels, ("soft-face",), occluder_mask=sample.occluder_mask)["face_mask_soft"]
        assert soft.dtype == np.uint8 and soft.shape == sample.face_mask.shape
        for name in ("left_eye", "right_eye"):  # the eyes are under the clear lenses
            col, row = np.floor(points[AT[name]] + 0.5).astype(int)
            if sample.occluder_mask[row, col] == 0:
                continue
            checked += 1
            assert 0 < soft[row, col] < 255, (index, name)  # strictly between 0 and 1
            assert soft[row, col] == 255 - sample.occluder_mask[row, col]
            assert sample.face_mask[row, col] == 1  # the 0/1 mask keeps a clear lens as face
        assert np.all(soft[sample.face_mask.astype(bool) & (sample.occluder_mask == 0)] == 255)
    assert checked >= 12
    out = tmp_path / "soft.zarr"
    with pytest.raises(ConfigError, match="natocc.eyewear_label is soft but the store has no soft face mask .* add "
                                          "--labels soft-face"):  # fmt: skip
        generate(recipe, out, n=2, shard_size=2)
    assert not out.exists()  # refused before the store existed
    generate(recipe, out, n=2, shard_size=2, labels=("soft-face",))
    reader = ShardReader(out)
    assert reader.label_names == ("face_mask_soft",) and reader.card["labels"]["face_mask_soft"]["values"] == "0-255"
    stored = reader.labels(1)["face_mask_soft"]
    made = recipe.make(1)
    assert np.array_equal(stored, build_labels(made.labels, ("soft-face",), occluder_mask=made.occluder_mask)[
        "face_mask_soft"])  # fmt: skip
    folder = tmp_path / "folder"  # exported as soft_face/<id>.png, the stored values
    assert runner.invoke(app, ["export", str(out), "--out", str(folder), "--workers", "1"]).exit_code == 0
    png = cv2.imread(str(folder / "soft_face" / f"{reader[1].metadata['sample_id']}.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(png, stored)


def test_hair_family_hangs_over_the_brow(parsed_faces: Path) -> None:
    """The hair family's alpha-weighted centroid lies near the brows' midpoint (within 0.6 IOD: the fringe hangs
    from the hairline down to the brows, so its centroid is about 0.4 IOD above them) in >= 95 % of samples."""
    assert family_of("hair", {}) == "hair"
    fringe, draw = render_fringe(sample_fringe(rng=np.random.default_rng(2), iod_px=64))
    assert fringe.kind == "hair" and fringe.alpha.dtype == np.float32 and 0.0 <= fringe.alpha.min()
    assert fringe.alpha.max() <= 1.0 and draw["iod_px"] == 64 and len(draw["anchor_xy"]) == 2
    again, _ = render_fringe(sample_fringe(rng=np.random.default_rng(2), iod_px=64))
    assert np.array_equal(fringe.alpha, again.alpha) and np.array_equal(fringe.rgb, again.rgb)
    recipe = natocc(parsed_faces, objects_frac=1.0, wearables_frac=1.0, hair_frac=1.0)
    assert recipe.wearables is not None and recipe.wearables.describe()["hair_frac"] == "1.0"
    points = landmarks_from_parsing(face_parsing())
    brow = (points[AT["left_brow"]] + points[AT["right_brow"]]) / 2
    near, above = 0, 0
    for index in range(40):
        sample = recipe.make(index)
        placement = sample.metadata["placement"]
        assert sample.metadata["occluder_types"] == ["hair"]
        assert placement["family"] == "hair" and placement["anchor"] == "brow"
        offset = alpha_centroid(sample.occluder_mask) - brow
        near += np.hypot(*offset) <= 0.6 * placement["iod_px"]
        above += offset[1] < 0
    assert near >= 0.95 * 40 and above >= 0.95 * 40
    assert Wearables().describe() == Wearables(hair_frac=0.0).describe()  # the default card is unchanged
    with pytest.raises(ConfigError, match=r"natocc.hair_frac must be in \[0, 1\], got 2"):
        NatOccConfig(hair_frac=2)


def test_anchored_celebamask_reads_each_face_parsing_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anchored placement takes its landmarks from the face's parsing map; on CelebAMask-HQ (18 part files per
    face) that map is read once per face, and the labels reuse it."""
    from tests.test_sources_faces import make_celeba

    root = make_celeba(tmp_path / "celeba", [0, 1, 2])
    calls: list[int] = []
    real = CelebAMaskHQ.load_parsing

    def counted(self: CelebAMaskHQ, index: int, size: int, face_mask: np.ndarray | None = None) -> np.ndarray:
        calls.append(index)
        return real(self, index, size, face_mask)

    monkeypatch.setattr(CelebAMaskHQ, "load_parsing", counted)
    config = NatOccConfig(hand_max_side_px=64, placement="anchored")
    recipe = NatOccRecipe(CelebAMaskHQ(root), MattedHands(None, max_side_px=64), config, seed=3, size=64,
                          objects=CocoObjects(None, max_side_px=64))  # fmt: skip
    for sample in recipe.make_batch(list(range(6))):  # paired: samples 2k and 2k + 1 share face k
        build_labels(sample.labels, ("parsing", "landmarks"), occluder_mask=sample.occluder_mask)
    assert sorted(calls) == [0, 1, 2]


def test_stores_of_different_landmark_schemes_are_not_mixed(tmp_path: Path) -> None:
    """One mix reads one (K, 2) per sample: a 68-point store beside a 13-point one is refused, naming both."""
    from occgen.core.errors import StoreError
    from occgen.store import open_store
    from occgen.store.mix import MixPart, build_mix

    faces = faces_with_points(tmp_path / "faces", {"face0": "pts", "face1": "pts"})
    own, derived, again = tmp_path / "own.zarr", tmp_path / "derived.zarr", tmp_path / "own2.zarr"
    generate(source_recipe(faces), own, n=2, shard_size=2, labels=("landmarks",))
    generate(source_recipe(faces, landmark_scheme="derived"), derived, n=2, shard_size=2, labels=("landmarks",))
    generate(source_recipe(faces), again, n=2, shard_size=2, labels=("landmarks",))
    with pytest.raises(StoreError, match=r"different landmark schemes .*own\.zarr: 68 points; .*derived\.zarr: 13 "):
        build_mix([MixPart(own), MixPart(derived)], tmp_path / "bad.zarr")
    assert not (tmp_path / "bad.zarr").exists()  # refused before anything was written
    build_mix([MixPart(own), MixPart(again)], tmp_path / "good.zarr")  # one scheme: mixed
    assert len(open_store(tmp_path / "good.zarr")) == 4
