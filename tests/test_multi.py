"""Several occluders per face, another face as occluder and the instance map (occgen/recipes/multi.py, issue 25)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.compose import CompositeParams, apply_composite
from occgen.core.errors import ConfigError
from occgen.core.imageio import write_png
from occgen.core.labels import GENERIC_FACE, LABEL_ARRAYS, face_class_ids, parse_labels
from occgen.core.rng import sample_rng
from occgen.recipes.labels import build_labels
from occgen.recipes.multi import (
    EXTRA_STREAM,
    OccludersPerFace,
    combine_occluder_masks,
    face_cutout,
    instance_table,
    stack_instances,
    stack_occluders,
)
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
from occgen.sources.cutouts import RGBAFolder
from occgen.sources.faces import FaceFolder
from occgen.sources.hands import MattedHands
from occgen.sources.occluder import Occluder

runner = CliRunner()
ALL = ("parsing", "amodal", "occluder-class", "instances")
FACE_CLASSES = face_class_ids(("skin",))


def natocc(faces: FaceFolder, objects: Path | None = None, **changes: object) -> NatOccRecipe:
    config = replace(NatOccConfig(hand_max_side_px=96, objects_frac=0.0), **changes)  # type: ignore[arg-type]
    return NatOccRecipe(faces, MattedHands(None, max_side_px=96), config, seed=3, size=64,
                        objects=RGBAFolder(objects) if objects else None)  # fmt: skip


def square(value: int) -> Occluder:
    """An opaque 10 x 10 square of one grey level."""
    return Occluder(f"sq{value}", "rgba-folder", np.full((10, 10, 3), value, np.uint8), np.ones((10, 10), np.float32))


def test_config_refuses_bad_values_with_the_key_and_the_fix(face_folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"occluders_per_face.counts must be .* in 1..16, got \[0, 2\]"):
        OccludersPerFace(counts=(0, 2), weights=(1.0, 1.0))
    with pytest.raises(ConfigError, match=r"occluders_per_face.weights must be one non-negative weight per count"):
        OccludersPerFace(counts=(1, 2), weights=(1.0,))
    with pytest.raises(ConfigError, match=r"occluders_per_face.weights .*not all 0"):
        OccludersPerFace(counts=(1, 2), weights=(0.0, 0.0))
    with pytest.raises(ConfigError, match=r"occluders_per_face.objects_frac must be in \[0, 1\], got 1.5"):
        OccludersPerFace(counts=(2,), weights=(1.0,), objects_frac=1.5)
    with pytest.raises(ConfigError, match=r"natocc.face_occluder_frac must be in \[0, 1\], got -0.1"):
        NatOccConfig(face_occluder_frac=-0.1)
    with pytest.raises(ConfigError, match="no objects source is available; set it to 0"):
        natocc(FaceFolder(face_folder), occluders_per_face=OccludersPerFace(counts=(2,), weights=(1.0,)))
    one_face = face_folder.parent / "one"
    for sub in ("images", "masks"):
        (one_face / sub).mkdir(parents=True)
        name = "face0.jpg" if sub == "images" else "face0.png"
        (one_face / sub / name).write_bytes((face_folder / sub / name).read_bytes())
    with pytest.raises(ConfigError, match="another face needs at least 2; set it to 0"):
        natocc(FaceFolder(one_face), face_occluder_frac=0.5)


def test_instances_stack_in_paint_order_and_the_topmost_wins() -> None:
    a, b, c = (np.zeros((8, 8), bool) for _ in range(3))
    a[0:4, 0:4], b[2:6, 2:6], c[3:8, 0:3] = True, True, True
    instances = stack_instances([a, b, c])
    assert instances.dtype == np.uint8 and instances.shape == (8, 8)
    assert instances[0, 0] == 1 and instances[2, 2] == 2 and instances[5, 5] == 2  # b over a
    assert instances[3, 2] == 3 and instances[7, 0] == 3 and instances[7, 7] == 0  # c over a and b
    assert np.array_equal(instances > 0, a | b | c)
    with pytest.raises(ConfigError, match="at most 16 occluders"):
        stack_instances([a] * 17)
    below, above = np.array([[0, 255, 128]], np.uint8), np.array([[128, 0, 128]], np.uint8)
    # 1 - (1 - a)(1 - b): an independent check of the stacked alpha
    assert combine_occluder_masks(below, above).tolist() == [[128, 255, 192]]


def test_stacked_squares_give_their_ids_and_pixels_where_they_overlap() -> None:
    """Three opaque squares composited in order: ids 1, 2, 3 in paint order, the later one where they overlap,
    the image shows the topmost square's colour there, and the face loses every footprint."""
    image = np.full((40, 40, 3), 100, np.uint8)
    face = np.zeros((40, 40), np.uint8)
    face[5:35, 5:35] = 1
    edges = CompositeParams(footprint_threshold=0.5)  # no erosion, blur or seam: exact squares

    def composite(occluder: Occluder, image: np.ndarray, visible: np.ndarray, centre: tuple[float, float]):
        result = apply_composite(image, visible, occluder, replace(edges, center_xy=centre))
        meta = {"occluder_ids": [occluder.occluder_id], "occluder_types": [occluder.kind], "harmonised": False,
                "params": {"occluder": {"category": f"c{occluder.rgb[0, 0, 0]}"}}}  # fmt: skip
        return result.image, result.occluder_mask, result.face_mask, meta, result.footprint

    first = composite(square(10), image, face, (15.0, 15.0))  # rows/cols 10..19
    centres = iter([(20.0, 20.0), (15.0, 24.0)])  # 15..24, then rows 19..28, cols 10..19

    def draw(kind: str, image: np.ndarray, visible: np.ndarray):
        return composite(square(200 if kind == "object" else 250), image, visible, next(centres))

    (out, mask, visible, meta, union), instances, classes = stack_occluders(
        first, ("object", "hand"), draw=draw, harmonise=None, class_of=lambda _: 2
    )
    assert instances[12, 12] == 1 and tuple(out[12, 12]) == (10, 10, 10)
    assert instances[17, 17] == 2 and tuple(out[17, 17]) == (200, 200, 200)  # 2 over 1
    assert instances[20, 12] == 3 and instances[22, 17] == 3 and tuple(out[22, 17]) == (250, 250, 250)  # 3 over 2
    assert instances[30, 30] == 0 and np.array_equal(instances > 0, union) and np.array_equal(mask > 0, union)
    assert np.array_equal(visible.astype(bool), face.astype(bool) & ~union)
    assert [row["instance"] for row in meta["occluders"]] == [1, 2, 3] and classes == (2, 2, 2)
    assert [row["category"] for row in meta["occluders"]] == ["c10", "c200", "c250"]
    assert meta["occluder_ids"] == ["sq10", "sq200", "sq250"] and meta["face_px_after"] == int(visible.sum())


def check_stacked_labels(sample) -> dict[str, np.ndarray]:
    """The label invariants of a sample with an instance map."""
    labels = build_labels(sample.labels, ALL, occluder_mask=sample.occluder_mask)
    instances, classes = labels["occluder_instances"], labels["occluder_class"]
    footprint = sample.labels.footprint
    assert instances.dtype == np.uint8 and instances.shape == sample.face_mask.shape
    assert np.array_equal(instances > 0, footprint) and np.array_equal(classes > 0, footprint)
    assert np.array_equal(sample.face_mask.astype(bool), labels["face_mask_amodal"].astype(bool) & ~footprint)
    assert np.array_equal(np.isin(labels["parsing"], FACE_CLASSES), sample.face_mask.astype(bool))
    table = sample.metadata["occluders"]
    for row in table:  # each instance's pixels carry its class, in occluder_class and parsing
        here = instances == row["instance"]
        assert (classes[here] == row["class"]).all() and (labels["parsing"][here] == GENERIC_FACE + row["class"]).all()
    assert int(instances.max()) <= len(table) == len(sample.metadata["occluder_types"])
    return labels


def test_natocc_with_several_occluders(tmp_path: Path, face_folder: Path) -> None:
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[8:32, 8:32] = (30, 60, 200, 255)
    write_png(tmp_path / "objects" / "cup.png", rgba)
    stack = OccludersPerFace(counts=(2, 3), weights=(1.0, 1.0), objects_frac=0.5)
    recipe = natocc(FaceFolder(face_folder), tmp_path / "objects", occluders_per_face=stack)
    counts, kinds, ids = set(), set(), set()
    for index in range(6):
        sample = recipe.make(index)
        table = sample.metadata["occluders"]
        counts.add(len(table))
        kinds |= {row["kind"] for row in table}
        labels = check_stacked_labels(sample)
        ids |= set(np.unique(labels["occluder_instances"]).tolist())
        again = recipe.make(index)  # deterministic
        assert np.array_equal(sample.image, again.image) and sample.metadata == again.metadata
        rng = sample_rng(3, EXTRA_STREAM, index)
        assert len(table) == stack.counts[int(rng.choice(2, p=[0.5, 0.5]))]  # the count drawn first
    assert counts == {2, 3} and kinds == {"hand", "rgba-folder"} and ids == {0, 1, 2, 3}


def test_every_row_of_the_table_carries_its_own_params_and_placement(tmp_path: Path, face_folder: Path) -> None:
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[8:32, 8:32] = (30, 60, 200, 255)
    write_png(tmp_path / "objects" / "cup.png", rgba)
    stack = OccludersPerFace(counts=(3,), weights=(1.0,), objects_frac=0.5)
    recipe = natocc(FaceFolder(face_folder), tmp_path / "objects", occluders_per_face=stack)
    for index in range(3):
        meta = recipe.make(index).metadata
        table = meta["occluders"]
        assert len(table) == 3 and all(set(row) == set(table[0]) for row in table)  # one set of keys for every row
        assert table[0]["params"] == meta["params"] and table[0]["placement"] == meta.get("placement")
        assert table[0]["harmonised"] == meta["harmonised"]
        for row in table:  # a reader reads row["params"] for every row: each names its own occluder
            drawn = row["params"]["occluder"]
            assert row["id"] in (drawn.get("hand_id"), Path(drawn.get("file", "")).stem)
            assert "occluder_size_px" in row["params"] and "placement" in row
    plain = natocc(FaceFolder(face_folder)).make(0)  # one occluder: the table's one row carries the params too
    (row,) = instance_table(plain.metadata, occluder_class=1)
    assert row["params"] == plain.metadata["params"] and row["placement"] == plain.metadata.get("placement")


def test_defaults_draw_nothing_and_add_no_metadata(face_folder: Path) -> None:
    faces = FaceFolder(face_folder)
    plain = natocc(faces)
    # counts with weight 0 are never drawn: one occluder, the same bytes as the default
    single = natocc(faces, occluders_per_face=OccludersPerFace(counts=(1, 4), weights=(1.0, 0.0)))
    for index in range(3):
        a, b = plain.make(index), single.make(index)
        assert np.array_equal(a.image, b.image) and a.metadata == b.metadata and "occluders" not in a.metadata
        instances = build_labels(a.labels, ("instances",))["occluder_instances"]
        assert np.array_equal(instances, a.labels.footprint.astype(np.uint8))  # one occluder: instance 1


def test_another_face_is_occluder(face_folder: Path) -> None:
    parsing_dir = face_folder / "parsing"
    for i in range(3):  # skin on the face (ellipse), hair in a band above it, nothing below
        mask = (np.asarray(FaceFolder(face_folder).load(i, 96).face_mask) > 0).astype(np.uint8)
        labels = mask.copy()
        labels[4:16, 20:76] = np.where(mask[4:16, 20:76] > 0, 1, 13)
        write_png(parsing_dir / f"face{i}.png", labels)
    recipe = natocc(FaceFolder(face_folder), face_occluder_frac=1.0)
    for index in range(4):
        sample = recipe.make(index)
        table = sample.metadata["occluders"]
        assert [row["kind"] for row in table] == ["hand", "face"]
        other = table[1]["params"]["occluder"]["face_index"]
        assert other != sample.metadata["face_index"] and table[1]["class"] == 2
        labels = check_stacked_labels(sample)
        face_pixels = labels["occluder_instances"] == 2
        assert face_pixels.sum() > 50  # the other face lands on the image...
        assert not sample.face_mask[face_pixels].any()  # ...and its pixels are not face
        assert (labels["face_mask_amodal"][face_pixels] > 0).any()  # it covers part of the target face
        assert (labels["parsing"][face_pixels] == GENERIC_FACE + 2).all()


def test_face_cutout_takes_the_hair_and_softens_the_edge() -> None:
    image = np.full((64, 64, 3), 90, np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:50, 20:44] = 1
    parsing = mask.copy()
    parsing[10:20, 20:44] = 13  # hair above the face
    with_hair = face_cutout(image, mask, parsing, "f")
    without = face_cutout(image, mask, None, "f")
    assert with_hair.kind == "face" and with_hair.alpha.shape[0] > without.alpha.shape[0] + 8
    assert with_hair.alpha.max() == pytest.approx(1.0) and 0 < with_hair.alpha.min() < 0.5  # soft edge


def test_instances_through_the_cli_and_the_card(tmp_path: Path) -> None:
    from occgen.store.schema import ShardReader

    assert parse_labels("instances") == ("instances",) and LABEL_ARRAYS["instances"] == "occluder_instances"
    params = tmp_path / "params.yaml"
    params.write_text("natocc:\n  occluders_per_face:\n    counts: [2]\n    weights: [1]\n    objects_frac: 0\n")
    out = tmp_path / "s.zarr"
    args = ["generate", "natocc", "--out", str(out), "--n", "2", "--size", "64", "--workers", "1", "--seed", "1",
            "--no-preview", "--labels", "instances", "--objects-frac", "0", "--params", str(params)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    reader = ShardReader(out)
    assert reader.card["labels"]["occluder_instances"]["dtype"] == "uint8"
    for i in range(2):
        instances = reader.labels(i)["occluder_instances"]
        assert instances.shape == (64, 64) and instances.dtype == np.uint8 and int(instances.max()) <= 2
        assert len(reader.metadata([i])[0]["occluders"]) == 2
    single = tmp_path / "one.zarr"  # one occluder per face: a one-row table, written because instances were asked
    result = runner.invoke(app, [*args[:3], str(single), *args[4:-2]])
    assert result.exit_code == 0, result.output
    for meta in ShardReader(single).metadata([0, 1]):
        assert [(row["instance"], row["kind"], row["class"]) for row in meta["occluders"]] == [(1, "hand", 1)]
    from occgen.run.export import export_store

    export_store(out, tmp_path / "folder", workers=1)  # the folder export writes the ids as PNGs
    for i in range(2):
        stem = reader.metadata([i])[0]["sample_id"]
        png = cv2.imread(str(tmp_path / "folder" / "occluder_instances" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(png, reader.labels(i)["occluder_instances"])


def test_faceocc_instances_move_with_the_whole_sample_flip(tmp_path: Path, face_folder: Path) -> None:
    """FaceOcc's one occluder is instance 1 on its moved footprint: a flipped sample's instance map is the
    unflipped one mirrored, like its image."""
    from test_recipe_faceocc import _recipe

    from occgen.recipes.faceocc_transforms import SampleAffineConfig

    flip_only = SampleAffineConfig(flip_p=1.0, degrees=0.0, scale_range=(1.0, 1.0), shift_max=0.0)
    flipped = _recipe(tmp_path, face_folder, real_frac=0.0, sample_affine=flip_only)
    plain = _recipe(tmp_path, face_folder, real_frac=0.0, sample_affine=SampleAffineConfig(enabled=False))
    turned = _recipe(tmp_path, face_folder, real_frac=0.0,
                     sample_affine=SampleAffineConfig(flip_p=0.0, degrees=30.0, shift_max=0.1))  # fmt: skip
    for i in range(4):
        a, b = flipped.make(i), plain.make(i)
        assert np.array_equal(a.image, b.image[:, ::-1])
        ia = build_labels(a.labels, ("instances",))["occluder_instances"]
        ib = build_labels(b.labels, ("instances",))["occluder_instances"]
        assert ib.max() == 1 and np.array_equal(ia, ib[:, ::-1])
        c = turned.make(i)  # rotated and shifted: the instance lies where the moved occluder is opaque
        ic = build_labels(c.labels, ("instances",))["occluder_instances"]
        assert ic.max() == 1 and (c.occluder_mask[ic == 1] >= 128).mean() > 0.97


def test_randocc_gives_one_instance_on_its_footprint(small_recipe) -> None:
    for index in range(3):
        sample = small_recipe.make(index)
        labels = build_labels(sample.labels, ("instances", "occluder-class"))
        assert np.array_equal(labels["occluder_instances"], sample.labels.footprint.astype(np.uint8))
        assert np.array_equal(labels["occluder_class"], labels["occluder_instances"] * 3)


def test_face_cutout_fills_the_holes_of_the_face_mask() -> None:
    image = np.full((64, 64, 3), 90, np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:50, 20:44] = 1
    mask[28:32, 24:30] = 0  # an eye the mask leaves out
    cut = face_cutout(image, mask, None, "f")
    assert cut.alpha[28 - 19 + 1, 24 - 19 + 2] > 0.99  # image row 29, col 26 (the box starts 1 px out): the eye


def test_cli_options_set_the_stack(tmp_path: Path) -> None:
    from occgen.recipes.multi import parse_occluders_per_face

    base = OccludersPerFace(objects_frac=0.0)
    assert parse_occluders_per_face("1:0.5, 3:0.5", base) == OccludersPerFace(counts=(1, 3), weights=(0.5, 0.5),
                                                                               objects_frac=0.0)  # fmt: skip
    assert parse_occluders_per_face("2,3", base).weights == (1.0, 1.0)
    with pytest.raises(ConfigError, match="--occluders-per-face: expected counts like 1,2,3"):
        parse_occluders_per_face("two", base)
    out = tmp_path / "s.zarr"
    args = ["generate", "natocc", "--out", str(out), "--n", "2", "--size", "64", "--workers", "1", "--seed", "1",
            "--no-preview", "--occluders-per-face", "3", "--face-occluder-frac", "1"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    from occgen.store.schema import ShardReader

    meta = ShardReader(out).metadata([0, 1])
    assert all(len(m["occluders"]) == 4 and m["occluder_types"][-1] == "face" for m in meta)
    bad = runner.invoke(app, [*args[:3], str(tmp_path / "b.zarr"), *args[4:-4], "--occluders-per-face", "0,1"])
    assert bad.exit_code == 1 and "occluders_per_face.counts must be" in bad.output


def test_inner_mouth_policy(tmp_path: Path, face_folder: Path) -> None:
    """inner_mouth: occluder takes the parsing class `mouth` out of the face (visible and amodal), keeps `mouth`
    in parsing and drops it from the card's face classes; face (the default) changes nothing."""
    from occgen.core.labels import PART_ID
    from occgen.store.schema import ShardReader

    for i in range(3):
        mask = (np.asarray(FaceFolder(face_folder).load(i, 96).face_mask) > 0).astype(np.uint8)
        labels = mask.copy()
        labels[62:68, 40:56] = PART_ID["mouth"]  # inside the ellipse
        write_png(face_folder / "parsing" / f"face{i}.png", labels)
    faces = FaceFolder(face_folder)
    keep, cut = natocc(faces), natocc(faces, inner_mouth="occluder")
    with pytest.raises(ConfigError, match="natocc.inner_mouth must be one of face, occluder, got 'teeth'"):
        NatOccConfig(inner_mouth="teeth")
    assert "mouth" in keep.face_parts and "mouth" not in cut.face_parts
    for index in range(3):
        a, b = keep.make(index), cut.make(index)
        la = build_labels(a.labels, ("parsing", "amodal"), occluder_mask=a.occluder_mask)
        lb = build_labels(b.labels, ("parsing", "amodal"), occluder_mask=b.occluder_mask)
        mouth = la["parsing"] == PART_ID["mouth"]
        assert np.array_equal(lb["parsing"], la["parsing"])  # same draws: same occluder, same classes
        assert not b.face_mask[mouth].any() and not lb["face_mask_amodal"][mouth].any()
        assert mouth.any() and a.face_mask[mouth].all()  # face by default
        assert np.array_equal(b.face_mask, a.face_mask * (1 - (lb["face_mask_amodal"] != la["face_mask_amodal"])))
    params = tmp_path / "p.yaml"
    params.write_text("natocc:\n  inner_mouth: occluder\n")
    out = tmp_path / "m.zarr"
    args = ["generate", "natocc", "--out", str(out), "--n", "2", "--size", "64", "--workers", "1", "--seed", "1",
            "--no-preview", "--labels", "parsing", "--faces", str(face_folder), "--params", str(params)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    reader = ShardReader(out)
    face_classes = reader.card["labels"]["parsing"]["face_classes"]
    assert PART_ID["mouth"] not in face_classes and PART_ID["skin"] in face_classes
    for i in range(2):
        parsing = reader.labels(i)["parsing"]
        assert np.array_equal(np.isin(parsing, face_classes), reader[i].face_mask.astype(bool))


def test_stacked_stores_are_the_same_for_any_worker_count(tmp_path: Path, face_folder: Path) -> None:
    from test_generate import assert_same_store

    from occgen.run.generate import generate
    from occgen.store.schema import ShardReader

    stack = OccludersPerFace(counts=(2, 3), weights=(1.0, 1.0), objects_frac=0.0)
    recipe = natocc(FaceFolder(face_folder), occluders_per_face=stack, face_occluder_frac=0.5)
    generate(recipe, tmp_path / "one.zarr", n=6, shard_size=3, workers=1, labels=("instances",))
    generate(recipe, tmp_path / "two.zarr", n=6, shard_size=3, workers=2, labels=("instances",))
    assert_same_store(tmp_path / "one.zarr", tmp_path / "two.zarr")
    one, two = ShardReader(tmp_path / "one.zarr"), ShardReader(tmp_path / "two.zarr")
    for i in range(6):
        assert np.array_equal(one.labels(i)["occluder_instances"], two.labels(i)["occluder_instances"])
    assert one.metadata(list(range(6))) == two.metadata(list(range(6)))


def test_a_second_occluder_only_adds_on_top_of_the_first(face_folder: Path) -> None:
    """The first occluder is the one-occluder sample's, pixel for pixel; the second paints over it: away from
    the second's pixels (and its seam band) the image is the one-occluder image, and the first's footprint is
    instance 1 wherever the second does not cover it."""
    faces = FaceFolder(face_folder)
    single = natocc(faces)
    double = natocc(faces, occluders_per_face=OccludersPerFace(counts=(2,), weights=(1.0,), objects_frac=0.0))
    for index in range(4):
        one, two = single.make(index), double.make(index)
        instances = build_labels(two.labels, ("instances",))["occluder_instances"]
        assert set(np.unique(instances).tolist()) <= {0, 1, 2} and (instances == 2).any()
        first = one.labels.footprint
        assert np.array_equal(instances == 1, first & (instances != 2))
        second = (instances == 2) | (two.occluder_mask != one.occluder_mask)
        reach = 2 * (3 + 5) + 1  # composite.seam_width_px + seam_blur_px on each side
        near = cv2.dilate(second.astype(np.uint8), np.ones((reach, reach), np.uint8)).astype(bool)
        assert np.array_equal(two.image[~near], one.image[~near]) and (~near).any()
        assert two.metadata["occluders"][0]["id"] == one.metadata["occluder_ids"][0]
