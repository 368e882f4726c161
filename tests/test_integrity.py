"""Nothing lost, nothing silently wrong (issue 13): unique ids out of mixes, counted writes, identical reruns."""

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.imageio import read_binary_mask
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.export import export_store
from occgen.run.generate import generate
from occgen.run.preview import contact_sheet
from occgen.store import open_store
from occgen.store.mix import MixPart, build_mix
from occgen.train.evaluate import iter_store


def every_file_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (the root card included), by relative path."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def same_recipe_mix(tmp_path: Path, small_recipe: RandOccRecipe) -> Path:
    """A mix of two stores of one recipe (both name their samples randocc-00000000...), 5 + 4 samples."""
    generate(small_recipe, tmp_path / "a.zarr", n=5, shard_size=2)
    small_recipe.seed = 8
    generate(small_recipe, tmp_path / "b.zarr", n=4, shard_size=2)
    return build_mix([MixPart(tmp_path / "a.zarr"), MixPart(tmp_path / "b.zarr")], tmp_path / "m.zarr")


@pytest.mark.parametrize("format", ["folder", "mmseg"])
def test_export_of_a_same_recipe_mix_writes_every_sample(tmp_path: Path, same_recipe_mix: Path, format: str) -> None:
    out = tmp_path / "out"
    report = export_store(same_recipe_mix, out, format=format, name="m", workers=1)
    images = out / ("images" if format == "folder" else "m/img")
    masks = out / ("masks" if format == "folder" else "m/mask")
    assert report.samples == 9
    assert len(list(images.iterdir())) == 9 and len(list(masks.iterdir())) == 9
    mixed = open_store(same_recipe_mix)
    stems = sorted(p.stem for p in images.iterdir())
    assert stems == sorted(mixed[i].metadata["sample_id"] for i in range(9))
    assert sum(s.startswith("p0-") for s in stems) == 5 and sum(s.startswith("p1-") for s in stems) == 4
    if format == "folder":  # the file of each id holds that sample's mask
        for i in range(9):
            sample = mixed[i]
            mask = read_binary_mask(masks / f"{sample.metadata['sample_id']}.png")
            assert np.array_equal(mask.astype(np.uint8), sample.face_mask)
        rows = (out / "metadata.csv").read_text().splitlines()[1:]
        assert len({row.split(",")[0] for row in rows}) == 9
    else:
        assert len(set((out / "m" / "train.txt").read_text().split())) == 9


def test_mix_sample_ids_are_qualified_and_keep_the_store_id(same_recipe_mix: Path) -> None:
    mixed = open_store(same_recipe_mix)
    ids = [mixed.sample_metadata(i)["sample_id"] for i in range(len(mixed))]
    assert len(set(ids)) == len(ids) == 9
    first = mixed[0].metadata
    assert first == mixed.sample_metadata(0)
    assert first["sample_id"] == f"p0-{first['store_sample_id']}" and first["store_sample_id"].startswith("randocc-")


def test_two_identical_runs_give_identical_bytes(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    digests = []
    for run in ("one", "two"):
        store = tmp_path / run / "s.zarr"
        generate(small_recipe, store, n=5, shard_size=2)
        mix = build_mix([MixPart(store, count=3)], tmp_path / run / "m.zarr", seed=1)
        digests.append((every_file_digest(store), every_file_digest(mix)))
    assert digests[0] == digests[1]
    assert "zarr.json" in digests[0][0] and len(digests[0][0]) > 10  # the card is hashed too


def test_a_resumed_run_gives_the_bytes_of_an_uninterrupted_one(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    whole, resumed = tmp_path / "whole.zarr", tmp_path / "resumed.zarr"
    generate(small_recipe, whole, n=5, shard_size=2)
    generate(small_recipe, resumed, n=5, shard_size=2, workers=1)
    # interrupt: forget shard 1 and the completion, then resume
    group = zarr.open_group(str(resumed), mode="r+")
    group["shard_complete"][1] = 0
    card = dict(group.attrs["occgen"])
    card["complete"] = False
    group.attrs["occgen"] = card
    generate(small_recipe, resumed, n=5, shard_size=2)
    assert every_file_digest(whole) == every_file_digest(resumed)


def test_preview_and_evaluator_name_mix_samples_by_their_qualified_ids(same_recipe_mix: Path) -> None:
    mixed = open_store(same_recipe_mix)
    count, items = iter_store(same_recipe_mix)
    ids = [item.item_id for item in items]
    assert count == 9 and len(set(ids)) == 9 and ids[0] == mixed.sample_metadata(0)["sample_id"]
    sheet = contact_sheet(mixed, [0, 5], tile_px=160)
    plain = cv2.resize(mixed[0].image, (160, 160), interpolation=cv2.INTER_AREA)
    changed = np.any(sheet[:160, :160] != plain, axis=2)
    assert changed[:16].sum() > 20 and not changed[16:].any()  # the id, written at the top of the image tile


def test_the_same_command_twice_gives_identical_files(tmp_path: Path) -> None:
    digests = []
    for run in ("one", "two"):
        out = tmp_path / run / "natocc.zarr"
        args = ["generate", "natocc", "--out", str(out), "--n", "3", "--size", "32", "--shard-size", "2",
                "--workers", "1", "--stats", str(tmp_path / run / "stats.json")]  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        digests.append(every_file_digest(tmp_path / run))  # store, preview and stats
    assert digests[0] == digests[1]
    assert {"natocc.zarr/zarr.json", "natocc.preview.png", "stats.json"} <= set(digests[0])
