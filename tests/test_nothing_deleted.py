"""Nothing deleted that the user did not ask to delete (issue 23): generate remakes only a store it began
itself and that never wrote a shard; --overwrite deletes only occgen stores and mixes; a mix never deletes
its own input; a recipe batch of the wrong length writes nothing."""

import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from test_verify import every_file_digest, flat  # noqa: E402 (one copy of these helpers)
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import StoreError
from occgen.recipes.base import Sample
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.generate import generate
from occgen.run.verify import repair_store
from occgen.store.mix import MixPart, build_mix
from occgen.store.schema import ShardReader

runner = CliRunner()




@pytest.fixture
def two_stores(tmp_path: Path, small_recipe: RandOccRecipe) -> tuple[Path, Path]:
    generate(small_recipe, tmp_path / "a.zarr", n=3, shard_size=2)
    small_recipe.seed = 99
    generate(small_recipe, tmp_path / "b.zarr", n=2, shard_size=2)
    small_recipe.seed = 7
    return tmp_path / "a.zarr", tmp_path / "b.zarr"


def test_generate_refuses_a_mix_given_as_out(tmp_path: Path, two_stores: tuple[Path, Path], small_recipe) -> None:
    mix = build_mix([MixPart(p) for p in two_stores], tmp_path / "m.zarr")
    before = every_file_digest(mix)
    with pytest.raises(StoreError, match=r"m\.zarr is a mix index.*pass --overwrite to replace it, or choose another"):
        generate(small_recipe, mix, n=2, shard_size=2)
    assert every_file_digest(mix) == before and len(before) == 5  # its zarr.json, two arrays


def test_cli_generate_refuses_a_mix_in_one_line(tmp_path: Path, two_stores: tuple[Path, Path]) -> None:
    mix = tmp_path / "m.zarr"
    assert runner.invoke(app, ["mix", *map(str, two_stores), "--out", str(mix)]).exit_code == 0
    before = every_file_digest(mix)
    result = runner.invoke(app, ["generate", "randocc", "--out", str(mix), "--n", "2", "--size", "32",
                                 "--workers", "1", "--no-preview"])  # fmt: skip
    assert result.exit_code == 1
    assert f"error: {mix} is a mix index, not a store; pass --overwrite" in flat(result.output)
    assert every_file_digest(mix) == before


def test_repair_refuses_a_mix(tmp_path: Path, two_stores: tuple[Path, Path], small_recipe: RandOccRecipe) -> None:
    mix = build_mix([MixPart(p) for p in two_stores], tmp_path / "m.zarr")
    before = every_file_digest(mix)
    with pytest.raises(StoreError, match=r"m\.zarr is not a store made by generate; --repair"):
        repair_store(small_recipe, mix)
    assert every_file_digest(mix) == before


def test_a_store_with_written_shards_that_lacks_an_array_is_refused(
    two_stores: tuple[Path, Path], small_recipe: RandOccRecipe
) -> None:
    store = two_stores[0]
    shutil.rmtree(store / "metadata")  # e.g. removed by hand: the rest holds written shards
    before = every_file_digest(store)
    with pytest.raises(StoreError, match=r"a\.zarr is a store with written shards.*--overwrite.*another --out"):
        generate(small_recipe, store, n=3, shard_size=2)
    assert every_file_digest(store) == before


def test_overwrite_never_deletes_a_user_file_inside_a_store(
    two_stores: tuple[Path, Path], small_recipe: RandOccRecipe
) -> None:
    store = two_stores[0]
    (store / "notes.txt").write_text("mine")
    before = every_file_digest(store)
    small_recipe.seed = 8  # other settings: --overwrite would replace the store
    with pytest.raises(StoreError, match=r"a\.zarr holds notes\.txt.*refusing to delete it"):
        generate(small_recipe, store, n=3, shard_size=2, overwrite=True)
    assert every_file_digest(store) == before


def test_overwrite_never_deletes_a_folder_that_is_not_a_store(tmp_path: Path, two_stores, small_recipe) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"x")
    with pytest.raises(StoreError, match=r"photos exists and is not an occgen store"):
        generate(small_recipe, folder, n=2, shard_size=2, overwrite=True)
    with pytest.raises(StoreError, match=r"photos is not an occgen store; refusing to delete it"):
        build_mix([MixPart(two_stores[0])], folder, overwrite=True)
    assert (folder / "a.jpg").read_bytes() == b"x"


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
def test_mix_overwrite_never_deletes_its_own_input(tmp_path: Path, two_stores: tuple[Path, Path], spelling) -> None:
    a, b = two_stores
    before = every_file_digest(a)
    out = {"same": a, "dotted": tmp_path / "." / "sub" / ".." / "a.zarr", "symlink": tmp_path / "link.zarr"}[spelling]
    if spelling == "symlink":
        out.symlink_to(a)
    with pytest.raises(StoreError, match=r"is \(or holds, or lies inside\) the input store .*a\.zarr.*another --out"):
        build_mix([MixPart(a), MixPart(b)], out, overwrite=True)
    assert every_file_digest(a) == before
    assert len(ShardReader(a)) == 3


class ShortBatchRecipe(RandOccRecipe):
    """A broken recipe: its make_batch drops the last sample of every batch."""

    def make_batch(self, indices: Iterable[int]) -> list[Sample]:
        return [self.make(i) for i in list(indices)[:-1]]


class LongBatchRecipe(RandOccRecipe):
    """A broken recipe: its make_batch gives one sample too many."""

    def make_batch(self, indices: Iterable[int]) -> list[Sample]:
        chosen = list(indices)
        return [self.make(i) for i in [*chosen, chosen[-1]]]


@pytest.mark.parametrize(("broken", "got"), [(ShortBatchRecipe, 1), (LongBatchRecipe, 3)])
def test_a_recipe_batch_of_the_wrong_length_writes_nothing(
    tmp_path: Path, small_recipe: RandOccRecipe, broken: type, got: int
) -> None:
    recipe = broken(small_recipe.faces, small_recipe.occluders, small_recipe.config, seed=7, size=64)
    store = tmp_path / "s.zarr"
    with pytest.raises(StoreError, match=rf"shard 0: recipe randocc's make_batch of samples 0\.\.1 gave {got} "):
        generate(recipe, store, n=4, shard_size=2)
    reader = ShardReader(store, allow_incomplete=True)
    assert reader.shards_done() == (0, 2)
    assert not (store / "image" / "c").exists()  # no shard object: nothing of the broken batch was written
    assert np.all(reader.arrays("image")[:] == 0)
