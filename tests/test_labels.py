"""Optional label arrays (occgen/core/labels.py, occgen/recipes/labels.py): class tables, the CelebAMask-HQ
parsing map, and the exactness invariants on RandOcc and NatOcc samples (hands, objects, translucent)."""

from __future__ import annotations

import json
import tarfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ellipse_mask, write_gray
from test_sources_faces import make_celeba
from typer.testing import CliRunner

from occgen.appearance.harmonise import HarmoniseConfig, harmoniser_from_config
from occgen.cli.main import app
from occgen.core.errors import ConfigError
from occgen.core.imageio import write_png
from occgen.core.labels import (
    CELEBAMASK_LABEL_ORDER,
    GENERIC_FACE,
    LABEL_ARRAYS,
    PARSING_CLASSES,
    colour_parsing,
    face_class_ids,
    parse_labels,
)  # fmt: skip
from occgen.recipes.base import Sample
from occgen.recipes.labels import build_labels
from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
from occgen.recipes.randocc import RandOccConfig, RandOccRecipe
from occgen.sources.cutouts import RGBAFolder
from occgen.sources.faces import DEFAULT_FACE_PARTS, CelebAMaskHQ, FaceFolder, StoreFaces
from occgen.sources.hands import MattedHands
from occgen.sources.shapes import RandomShapes
from occgen.sources.textures import DTDTextures
from occgen.store.schema import ShardReader
from occgen.train.multiclass import open_parsing_data

runner = CliRunner()
ALL = tuple(LABEL_ARRAYS)
FACE_CLASSES = face_class_ids(DEFAULT_FACE_PARTS)


def test_class_tables_and_label_names() -> None:
    assert PARSING_CLASSES[0] == "background" and PARSING_CLASSES[1:19] == CELEBAMASK_LABEL_ORDER
    assert PARSING_CLASSES[19:] == ("face", "occluder_hand", "occluder_object", "occluder_shape")
    assert len(set(CELEBAMASK_LABEL_ORDER)) == 18
    assert parse_labels("clean, parsing") == ("parsing", "clean") and parse_labels(None) == ()
    with pytest.raises(ConfigError, match="unknown label 'depth'.*parsing, amodal, clean, occluder-class"):
        parse_labels("parsing,depth")
    assert colour_parsing(np.arange(23, dtype=np.uint8)[None]).shape == (1, 23, 3)
    assert len({tuple(c) for c in colour_parsing(np.arange(23, dtype=np.uint8))}) == 23  # distinct colours


def test_celeba_parsing_is_the_union_of_part_files_with_precedence(tmp_path: Path) -> None:
    root = make_celeba(tmp_path / "celeba", [5], mask_px=64)
    folder = root / "CelebAMask-HQ-mask-anno" / "0"
    neck = np.zeros((64, 64), np.uint8)
    neck[50:64, 20:44] = 255  # overlaps the bottom of the skin ellipse
    write_gray(folder / "00005_neck.png", neck)
    source = CelebAMaskHQ(root)
    parsing = source.load_parsing(0, 64)
    # Independent reference: paint neutral parts, then face parts, then occluding parts.
    skin = ellipse_mask(64, (32, 32), (20, 26)) > 0
    expected = np.zeros((64, 64), np.uint8)
    expected[28:36, 6:12] = 8  # l_ear (neutral)
    expected[50:64, 20:44] = 17  # neck (neutral)
    expected[skin] = 1  # skin beats neck and ear
    expected[30:36, 30:34] = 2  # nose
    expected[20:26, 16:48] = 3  # eye_g (occluding) beats skin and ear
    expected[:14, :] = 13  # hair (occluding)
    assert np.array_equal(parsing, expected)
    face = source.load(0, 64)
    assert np.array_equal(np.isin(parsing, FACE_CLASSES), face.face_mask.astype(bool))
    # At another size the map is resized nearest, like the mask, and still agrees with it.
    small = source.load_parsing(0, 32)
    assert set(np.unique(small)) <= set(np.unique(expected))
    assert np.array_equal(np.isin(small, FACE_CLASSES), source.load(0, 32).face_mask.astype(bool))


def test_face_folder_parsing_generic_and_parser_made(face_folder: Path) -> None:
    faces = FaceFolder(face_folder)
    generic = faces.load_parsing(0, 64)
    assert set(np.unique(generic)) == {0, GENERIC_FACE}
    assert np.array_equal(generic == GENERIC_FACE, faces.load(0, 64).face_mask.astype(bool))
    # A parser-made map (CelebAMask-HQ ids) is kept, reconciled with the mask.
    mask = (cv2.imread(str(face_folder / "masks" / "face0.png"), cv2.IMREAD_GRAYSCALE) > 0).astype(np.uint8)
    labels = np.where(mask > 0, 1, 13).astype(np.uint8)  # skin on the face, hair elsewhere
    labels[40:50, 40:50] = np.where(mask[40:50, 40:50] > 0, 2, 13)  # a nose
    write_png(face_folder / "parsing" / "face0.png", labels)
    parsing = faces.load_parsing(0, 96)
    assert np.array_equal(parsing, labels)
    write_png(face_folder / "parsing" / "face1.png", np.full((10, 10), 5, np.uint8))
    with pytest.raises(Exception, match="parsing map must match its mask's size"):
        faces.load_parsing(1, 64)


def check_invariants(sample: Sample, seam_width_px: int, occluder_class: int) -> dict[str, np.ndarray]:
    """Every invariant of the issue on one sample; returns the label arrays."""
    labels = build_labels(sample.labels, ALL, occluder_mask=sample.occluder_mask)
    clean, amodal = labels["clean_image"], labels["face_mask_amodal"]
    parsing, occluder_class_map = labels["parsing"], labels["occluder_class"]
    footprint = sample.labels.footprint
    assert clean.dtype == amodal.dtype == parsing.dtype == occluder_class_map.dtype == np.uint8
    # face_mask = amodal minus the footprint
    assert np.array_equal(sample.face_mask.astype(bool), amodal.astype(bool) & ~footprint)
    # parsing agrees with face_mask everywhere; occluder ids exactly on the footprint
    assert np.array_equal(np.isin(parsing, FACE_CLASSES), sample.face_mask.astype(bool))
    assert np.array_equal(parsing == GENERIC_FACE + occluder_class, footprint)
    assert np.array_equal(occluder_class_map, footprint.astype(np.uint8) * occluder_class)
    # outside the occluder (blend alpha > 0) and its seam band the composite is the clean face, bit for bit
    touched = (sample.occluder_mask > 0) | footprint
    kernel = np.ones((2 * seam_width_px + 1,) * 2, np.uint8)
    near = cv2.dilate(touched.astype(np.uint8), kernel).astype(bool)
    assert np.array_equal(sample.image[~near], clean[~near])
    assert (~near).sum() > 0.2 * near.size  # the check covers a real area
    return labels


@pytest.mark.parametrize("translucent_p", [0.0, 1.0])
def test_randocc_label_invariants(face_folder: Path, dtd_root: Path, translucent_p: float) -> None:
    occluders = RandomShapes(DTDTextures(dtd_root), canvas_px=64)
    config = RandOccConfig(canvas_px=64, translucent_p=translucent_p)
    recipe = RandOccRecipe(FaceFolder(face_folder), occluders, config, seed=7, size=64)
    for index in range(4):
        sample = recipe.make(index)
        assert sample.metadata["translucent"] is bool(translucent_p)
        labels = check_invariants(sample, config.composite.seam_width_px, occluder_class=3)
        if translucent_p:  # a translucent occluder still removes its footprint from the face
            assert (labels["parsing"] == 22).any() and (sample.occluder_mask[sample.labels.footprint] < 255).all()


def test_natocc_hand_and_object_label_invariants(tmp_path: Path, face_folder: Path) -> None:
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[8:32, 8:32] = (30, 60, 200, 255)
    write_png(tmp_path / "objects" / "cup.png", rgba)
    config = replace(NatOccConfig(hand_max_side_px=96), objects_frac=0.5)
    recipe = NatOccRecipe(
        FaceFolder(face_folder), MattedHands(None, max_side_px=96), config, seed=3, size=64,
        objects=RGBAFolder(tmp_path / "objects"), harmoniser=harmoniser_from_config(HarmoniseConfig()),
    )  # fmt: skip
    kinds = set()
    for index in range(8):
        sample = recipe.make(index)
        kind = sample.metadata["occluder_types"][0]
        kinds.add(kind)
        check_invariants(sample, config.composite.seam_width_px, occluder_class=1 if kind == "hand" else 2)
    assert kinds == {"hand", "rgba-folder"}


def test_default_store_unchanged_and_labelled_store_round_trip(tmp_path: Path, face_folder: Path) -> None:
    base = ["generate", "randocc", "--n", "3", "--size", "48", "--workers", "1", "--seed", "1", "--no-preview",
            "--faces", str(face_folder)]  # fmt: skip
    plain, rich = tmp_path / "plain.zarr", tmp_path / "rich.zarr"
    assert runner.invoke(app, [*base, "--out", str(plain)]).exit_code == 0
    result = runner.invoke(app, [*base, "--out", str(rich), "--labels", "parsing,amodal,clean,occluder-class"])
    assert result.exit_code == 0, result.output
    a, b = ShardReader(plain), ShardReader(rich)
    assert a.label_names == () and a.labels(0) == {} and "labels" not in a.card
    assert "labels" not in a.card["generation"]
    assert b.label_names == ("parsing", "face_mask_amodal", "clean_image", "occluder_class")
    assert b.card["labels"]["parsing"]["classes"] == list(PARSING_CLASSES)
    for i in range(3):  # the extra labels do not change the default arrays
        assert np.array_equal(a[i].image, b[i].image) and np.array_equal(a[i].face_mask, b[i].face_mask)
        extra = b.labels(i)
        assert np.array_equal(np.isin(extra["parsing"], FACE_CLASSES), b[i].face_mask.astype(bool))
        assert extra["clean_image"].shape == (48, 48, 3)
    # the old store is still a face source (generic parsing), the new one keeps its parsing map
    assert set(np.unique(StoreFaces(plain).load_parsing(0, 48))) <= {0, GENERIC_FACE}
    kept = StoreFaces(rich).load_parsing(0, 48)
    assert np.array_equal(kept, np.where(extra_or(b, 0) > GENERIC_FACE, 0, extra_or(b, 0)))
    # asking for other labels on resume is a different store
    again = runner.invoke(app, [*base, "--out", str(rich), "--labels", "parsing"])
    assert again.exit_code == 1 and "labels" in again.output
    bad = runner.invoke(app, [*base, "--out", str(tmp_path / "x.zarr"), "--labels", "depth"])
    assert bad.exit_code == 1 and "unknown label 'depth'" in bad.output


def extra_or(reader: ShardReader, index: int) -> np.ndarray:
    return reader.labels(index)["parsing"]


@pytest.fixture
def rich_store(tmp_path: Path, face_folder: Path) -> Path:
    out = tmp_path / "rich.zarr"
    args = ["generate", "randocc", "--n", "3", "--size", "48", "--workers", "1", "--seed", "2", "--no-preview",
            "--faces", str(face_folder), "--out", str(out), "--labels", ",".join(ALL)]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    return out


def test_info_preview_and_export_show_the_labels(tmp_path: Path, rich_store: Path) -> None:
    info = runner.invoke(app, ["info", str(rich_store)])
    flat = " ".join(info.output.replace("│", " ").split())
    assert info.exit_code == 0 and "label parsing" in flat and "polarity" in flat
    assert "(stored only inside clean_box" in flat  # where the clean face really is
    card = json.loads(runner.invoke(app, ["info", str(rich_store), "--json"]).output)
    assert card["labels"]["occluder_class"]["classes"] == ["none", "hand", "object", "random_shape"]
    sheet = tmp_path / "sheet.png"
    shown = runner.invoke(app, ["preview", str(rich_store), "--out", str(sheet), "-k", "2", "--tile", "32"])
    assert shown.exit_code == 0
    image = cv2.cvtColor(cv2.imread(str(sheet)), cv2.COLOR_BGR2RGB)
    assert image.shape == (4 * 32, 2 * 32, 3)  # a fourth row: the parsing map in the palette
    reader = ShardReader(rich_store)
    expected = cv2.resize(colour_parsing(reader.labels(0)["parsing"]), (32, 32), interpolation=cv2.INTER_NEAREST)
    assert np.array_equal(image[96:128, :32], expected)

    out = tmp_path / "folder"
    result = runner.invoke(app, ["export", str(rich_store), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    for i in range(3):
        stem = reader[i].metadata["sample_id"]
        labels = reader.labels(i)
        assert np.array_equal(cv2.imread(str(out / "parsing" / f"{stem}.png"), cv2.IMREAD_UNCHANGED), labels["parsing"])
        amodal = cv2.imread(str(out / "amodal" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(amodal, labels["face_mask_amodal"] * 255)
        clean = cv2.cvtColor(cv2.imread(str(out / "clean" / f"{stem}.png")), cv2.COLOR_BGR2RGB)
        assert np.array_equal(clean, labels["clean_image"])
        occ = cv2.imread(str(out / "occluder_class" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(occ, labels["occluder_class"])
    assert "parsing" in (out / "labels.json").read_text()
    # the exported folder is a face source that keeps its parsing map
    assert np.array_equal(FaceFolder(out).load_parsing(0, 48), reader.labels(0)["parsing"])
    # ... and evaluation data for a parsing model
    count, items = open_parsing_data(out)
    first_id, _, first_parsing = next(items)
    assert count == 3 and first_id == reader[0].metadata["sample_id"]
    assert np.array_equal(first_parsing, reader.labels(0)["parsing"])
    # the webdataset export (occgen/run/export_shards.py) carries the real arrays under the same names
    shards = tmp_path / "wds"
    result = runner.invoke(app, ["export", str(rich_store), "--out", str(shards), "--format", "webdataset",
                                 "--workers", "1", "--image-format", "png"])  # fmt: skip
    assert result.exit_code == 0, result.output
    members = {}
    for tar_path in sorted(shards.rglob("*.tar")):
        with tarfile.open(tar_path) as tar:
            members.update({m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()})
    parsing_files = sorted(name for name in members if name.endswith(".parsing.png"))
    assert len(parsing_files) == 3
    decoded = [cv2.imdecode(np.frombuffer(members[name], np.uint8), cv2.IMREAD_UNCHANGED) for name in parsing_files]
    stored = sorted((reader.labels(i)["parsing"] for i in range(3)), key=lambda a: a.tobytes())
    assert all(np.array_equal(a, b) for a, b in zip(sorted(decoded, key=lambda a: a.tobytes()), stored, strict=True))

    mm = tmp_path / "mm"
    result = runner.invoke(app, ["export", str(rich_store), "--out", str(mm), "--format", "mmseg",
                                 "--mmseg-labels", "parsing", "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    stem = reader[1].metadata["sample_id"]
    assert np.array_equal(cv2.imread(str(mm / "rich" / "mask" / f"{stem}.png"), cv2.IMREAD_UNCHANGED),
                          reader.labels(1)["parsing"])  # fmt: skip
    assert '"occluder_shape"' in (mm / "rich" / "classes.json").read_text()


def test_mmseg_parsing_needs_the_label(tmp_path: Path, face_folder: Path) -> None:
    plain = tmp_path / "plain.zarr"
    args = ["generate", "randocc", "--n", "1", "--size", "32", "--workers", "1", "--no-preview",
            "--faces", str(face_folder), "--out", str(plain)]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, ["export", str(plain), "--out", str(tmp_path / "mm"), "--format", "mmseg",
                                 "--mmseg-labels", "parsing"])  # fmt: skip
    assert result.exit_code == 1 and "generate it with --labels parsing" in result.output
    folder = runner.invoke(app, ["export", str(plain), "--out", str(tmp_path / "f"), "--workers", "1"])
    assert folder.exit_code == 0 and not (tmp_path / "f" / "parsing").exists()


def test_parser_labels_round_trip_through_generate_and_export(tmp_path: Path) -> None:
    from test_faces_parsing import EllipseParser, _source

    from occgen.prep.faces.stage import masks_with_parser

    faces = tmp_path / "faces"
    masks_with_parser(_source(tmp_path), faces, EllipseParser())  # type: ignore[arg-type]
    written = cv2.imread(str(faces / "parsing" / "a.png"), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(written)) == {0, 1, 13}  # parser skin 1 -> skin 1, parser hair 17 -> hair 13
    store, out = tmp_path / "p.zarr", tmp_path / "exported"
    args = ["generate", "randocc", "--n", "2", "--size", "32", "--workers", "1", "--no-preview",
            "--faces", str(faces), "--out", str(store), "--labels", "parsing"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, ["export", str(store), "--out", str(out), "--workers", "1"]).exit_code == 0
    reader = ShardReader(store)
    for i in range(2):
        exported = cv2.imread(str(out / "parsing" / f"{reader[i].metadata['sample_id']}.png"), cv2.IMREAD_UNCHANGED)
        assert set(np.unique(exported)) <= {0, 1, 13, 22} and {1, 13} <= set(np.unique(exported))
        assert np.array_equal(np.isin(exported, FACE_CLASSES), reader[i].face_mask.astype(bool))


def test_recode_keeps_the_labels(tmp_path: Path, rich_store: Path) -> None:
    out = tmp_path / "recoded.zarr"
    result = runner.invoke(
        app, ["recode", str(rich_store), "--out", str(out), "--image-codec", "zstd", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    a, b = ShardReader(rich_store), ShardReader(out)
    assert b.label_names == a.label_names and b.card["labels"] == a.card["labels"]
    for name, array in a.labels(2).items():  # lossless image codecs on both sides: identical
        assert np.array_equal(b.labels(2)[name], array, equal_nan=array.dtype.kind == "f"), name


def test_labels_from_params(tmp_path: Path) -> None:
    from occgen.settings import load_natocc_settings, load_randocc_settings

    params = tmp_path / "params.yaml"
    params.write_text("randocc:\n  labels: [clean, parsing]\nnatocc:\n  labels: [occluder-class]\n")
    assert load_randocc_settings(params).run.labels == ("parsing", "clean")
    assert load_natocc_settings(params).run.labels == ("occluder-class",)
    params.write_text("randocc:\n  labels: [depth]\n")
    with pytest.raises(ConfigError, match="unknown label 'depth'"):
        load_randocc_settings(params)
