"""How a store keeps ``clean_image`` (occgen/store/clean.py): only the box where it differs from the image,
given back whole by the readers; stores of the older layout (whole clean faces) still read."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import StoreError
from occgen.core.labels import LABEL_ARRAYS
from occgen.recipes.randocc import RandOccConfig, RandOccRecipe
from occgen.run.generate import generate
from occgen.sources.faces import FaceFolder
from occgen.sources.shapes import RandomShapes
from occgen.sources.textures import DTDTextures
from occgen.store.clean import EMPTY_BOX, altered_box, pack_clean, unpack_clean
from occgen.store.codecs import parse_image_codec
from occgen.store.schema import CLEAN_BOX, CLEAN_PATCH, ShardReader, write_shard

runner = CliRunner()


def test_altered_box_is_the_tight_box_of_differing_pixels() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert altered_box(image, image.copy()) == EMPTY_BOX
    clean = image.copy()
    clean[3, 29, 2] ^= 1  # one byte of the last column's blue channel
    clean[11, 4, 0] ^= 255
    assert altered_box(image, clean) == (3, 4, 12, 30)
    clean = image.copy()
    clean[0, 0, 1] ^= 7
    assert altered_box(image, clean) == (0, 0, 1, 1)
    with pytest.raises(ValueError, match="differ in shape"):
        altered_box(image, image[:10])


@pytest.mark.parametrize("spec", ["zstd", "jpegxl", "webp", "jpeg:90"])
def test_pack_then_unpack_gives_the_clean_faces_back(spec: str) -> None:
    codec = parse_image_codec(spec)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    cleans = images.copy()
    cleans[0, 2:5, 6:9] = rng.integers(0, 256, (3, 3, 3), dtype=np.uint8)  # sample 1: no difference
    cleans[2, 10:16, 0:4] = 0
    cleans[2, 10, 0] = 1
    boxes, patches = pack_clean(images, cleans, codec)
    assert boxes.dtype == np.int32 and boxes.shape == (3, 4) and patches.shape == (3,)
    assert tuple(boxes[1]) == EMPTY_BOX and patches[1] == b""
    assert tuple(boxes[2]) == altered_box(images[2], cleans[2])
    for index, box in enumerate(boxes):
        clean = unpack_clean(images[index], patches[index], box, codec)
        top, left, bottom, right = box
        outside = np.ones((16, 16), bool)
        outside[top:bottom, left:right] = False
        assert np.array_equal(clean[outside], images[index][outside])  # outside the box: the image, exactly
        if codec.lossless:
            assert np.array_equal(clean, cleans[index])
        else:
            assert np.abs(clean.astype(int) - cleans[index]).mean() < 12
    with pytest.raises(StoreError, match="decodes to"):
        codec.decode_image(patches[0], (5, 5, 3))


@pytest.fixture
def recipe(face_folder: Path, dtd_root: Path) -> RandOccRecipe:
    occluders = RandomShapes(DTDTextures(dtd_root), canvas_px=64)
    return RandOccRecipe(FaceFolder(face_folder), occluders, RandOccConfig(canvas_px=64), seed=5, size=64)


def make_store(out: Path, recipe: RandOccRecipe, image_codec: str = "zstd") -> None:
    generate(recipe, out, n=4, shard_size=2, workers=1, image_codec=image_codec, labels=tuple(LABEL_ARRAYS))


def test_store_keeps_the_box_and_reads_the_whole_clean_face(tmp_path: Path, recipe: RandOccRecipe) -> None:
    out = tmp_path / "rich.zarr"
    make_store(out, recipe)
    reader = ShardReader(out)
    group = zarr.open_group(out, mode="r")
    boxes = np.asarray(group[CLEAN_BOX][:])
    assert "clean_image" not in group and group[CLEAN_PATCH].shape == (4,)
    assert "clean_box" in reader.card["labels"]["clean_image"]["stored"]
    assert reader.label_names == tuple(LABEL_ARRAYS.values())
    for index in range(4):
        sample = recipe.make(index)  # what went into the compositor
        assert np.array_equal(reader[index].image, sample.image)
        clean = reader.labels(index)["clean_image"]
        assert np.array_equal(clean, sample.labels.clean_image)  # lossless codec: bit for bit
        assert np.array_equal(reader.label("clean_image", index, image=sample.image), clean)
        assert tuple(boxes[index]) == altered_box(sample.image, sample.labels.clean_image) != EMPTY_BOX
        top, left, bottom, right = boxes[index]
        assert (bottom - top) * (right - left) < 64 * 64  # a patch, not the whole face
    assert not reader.card.get("labels", {}).get("clean_box")  # a layout array, not a label
    assert "clean_box" not in reader.label_names
    with pytest.raises(Exception, match="has no depth array"):
        reader.label("depth", 0)
    # verify covers the box array: damage it and it is named
    assert runner.invoke(app, ["verify", str(out)]).exit_code == 0
    for damaged in (out / "clean_box" / "c" / "1" / "0", out / "clean_patch" / "c" / "0"):
        original = damaged.read_bytes()
        damaged.write_bytes(original[:-3])
        checked = runner.invoke(app, ["verify", str(out)])
        key = damaged.relative_to(out).as_posix()
        assert checked.exit_code != 0 and key in checked.output, checked.output
        damaged.write_bytes(original)


def test_lossy_codec_pairs_agree_outside_the_box(tmp_path: Path, recipe: RandOccRecipe) -> None:
    out = tmp_path / "lossy.zarr"
    make_store(out, recipe, "jpeg:80")
    reader = ShardReader(out)
    boxes = np.asarray(zarr.open_group(out, mode="r")[CLEAN_BOX][:])
    for index in range(4):
        image, clean = reader[index].image, reader.labels(index)["clean_image"]
        made = recipe.make(index)
        codec_error = np.abs(image.astype(int) - made.image).mean()  # what JPEG does to the image itself
        assert 0 < np.abs(clean.astype(int) - made.labels.clean_image).mean() < 1.5 * codec_error
        top, left, bottom, right = boxes[index]
        outside = np.ones((64, 64), bool)
        outside[top:bottom, left:right] = False
        assert np.array_equal(image[outside], clean[outside])
        assert not np.array_equal(image, clean)


def test_stores_with_whole_clean_faces_still_read_and_recode_boxes_them(tmp_path: Path, recipe: RandOccRecipe) -> None:
    """The layout before clean_box: whole clean faces and no box array."""
    out = tmp_path / "old.zarr"
    make_store(out, recipe)
    group = zarr.open_group(out, mode="r+")
    whole = np.stack([recipe.make(i).labels.clean_image for i in range(4)])
    del group[CLEAN_BOX]
    del group[CLEAN_PATCH]
    group.create_array("clean_image", shape=(4, 64, 64, 3), dtype="uint8", chunks=(1, 64, 64, 3),
                       shards=(2, 64, 64, 3), fill_value=0)  # fmt: skip
    for shard in range(2):
        values = [recipe.make(i) for i in (2 * shard, 2 * shard + 1)]
        write_shard(
            group, shard, np.stack([v.image for v in values]), np.stack([v.face_mask for v in values]),
            np.stack([v.occluder_mask for v in values]), [v.metadata for v in values],
            {"clean_image": whole[2 * shard : 2 * shard + 2].copy()},
        )  # fmt: skip
    old = ShardReader(out)
    assert np.array_equal(np.asarray(group["clean_image"][:]), whole)  # no box: written whole
    for index in range(4):
        assert np.array_equal(old.labels(index)["clean_image"], whole[index])
    recoded = tmp_path / "recoded.zarr"
    result = runner.invoke(app, ["recode", str(out), "--out", str(recoded), "--image-codec", "zstd"])
    assert result.exit_code == 0, result.output
    new = ShardReader(recoded)
    assert CLEAN_PATCH in new.group and "clean_image" not in new.group
    assert "clean_box" in new.card["labels"]["clean_image"]["stored"]
    for index in range(4):
        assert np.array_equal(new.labels(index)["clean_image"], whole[index])
    shutil.rmtree(out)
