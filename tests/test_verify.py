"""`occgen verify`: shard digests find flipped, truncated and deleted shard objects; repair restores the bytes."""

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import StoreError
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.generate import generate
from occgen.run.verify import repair_store
from occgen.store.integrity import verify, verify_one
from occgen.store.mix import MixPart, build_mix
from occgen.store.schema import ShardReader

runner = CliRunner()


def every_file_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def flat(text: str) -> str:
    """CLI output with rich's line wrapping undone."""
    return " ".join(text.split())


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGES = {
    "corrupt": ("image/c/1/0/0/0", flip_byte),
    "truncated": ("face_mask/c/2/0/0", truncate),
    "missing": ("occluder_mask/c/0/0/0", Path.unlink),
}


@pytest.fixture
def store(tmp_path: Path, small_recipe: RandOccRecipe) -> Path:
    generate(small_recipe, tmp_path / "s.zarr", n=5, shard_size=2)
    return tmp_path / "s.zarr"


def test_a_fresh_store_verifies(store: Path) -> None:
    check = verify_one(store)
    assert check.ok and check.shards == 3
    sample_arrays = ("image", "face_mask", "occluder_mask", "metadata")
    shard_files = [p for name in sample_arrays for p in (store / name / "c").rglob("*") if p.is_file()]
    assert check.bytes_read == sum(p.stat().st_size for p in shard_files)  # every shard object hashed
    result = runner.invoke(app, ["verify", str(store)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("kind", sorted(DAMAGES))
def test_verify_names_the_damaged_shard_and_repair_restores_the_bytes(
    store: Path, small_recipe: RandOccRecipe, kind: str
) -> None:
    original = every_file_digest(store)
    key, damage = DAMAGES[kind]
    damage(store / key)
    shard = int(key.split("/")[2])
    check = verify_one(store)
    assert [(p.shard, p.key, p.kind) for p in check.problems] == [(shard, key, kind)]
    result = runner.invoke(app, ["verify", str(store)])
    assert result.exit_code == 1 and f"shard {shard}: {key} {kind}" in flat(result.output)
    before, after = repair_store(small_recipe, store)
    assert before.bad_shards == [shard] and after.ok
    assert every_file_digest(store) == original  # byte-identical, the card included


def test_cli_repair_marks_the_shard_and_the_same_command_regenerates_it(
    store: Path, small_recipe: RandOccRecipe
) -> None:
    original = every_file_digest(store)
    flip_byte(store / "metadata/c/2")
    result = runner.invoke(app, ["verify", str(store), "--repair"])
    assert result.exit_code == 1 and "shard(s) 2 removed" in flat(result.output)
    with pytest.raises(StoreError, match="incomplete"):
        ShardReader(store)
    report = generate(small_recipe, store, n=5, shard_size=2)  # the command that wrote it, again
    assert report.shards_written == 1 and report.samples_written == 1
    assert runner.invoke(app, ["verify", str(store)]).exit_code == 0
    assert every_file_digest(store) == original


def test_a_reader_hitting_a_damaged_shard_names_it(store: Path) -> None:
    truncate(store / "image/c/1/0/0/0")
    reader = ShardReader(store)
    reader[0]  # other shards still read
    with pytest.raises(StoreError, match=r"image/c/1/0/0/0 \(shard 1\).*occgen verify"):
        reader[2]


def test_verify_a_mix_checks_its_stores(tmp_path: Path, store: Path, small_recipe: RandOccRecipe) -> None:
    small_recipe.seed = 3
    generate(small_recipe, tmp_path / "b.zarr", n=3, shard_size=2)
    mix = build_mix([MixPart(store, count=2), MixPart(tmp_path / "b.zarr")], tmp_path / "m.zarr")
    assert [c.ok for c in verify(mix)] == [True, True, True]  # the mix's own index, then its stores
    flip_byte(tmp_path / "b.zarr" / "image/c/0/0/0/0")
    checks = verify(mix)
    assert [c.bad_shards for c in checks] == [[], [], [0]]
    result = runner.invoke(app, ["verify", str(mix)])
    assert result.exit_code == 1 and "b.zarr: shard 0: image/c/0/0/0/0 corrupt" in flat(result.output)


def test_generate_repair_regenerates_exactly_the_bad_shard(tmp_path: Path) -> None:
    store = tmp_path / "r.zarr"
    args = ["generate", "randocc", "--out", str(store), "--n", "5", "--size", "32", "--shard-size", "2",
            "--workers", "1", "--no-preview"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    original = every_file_digest(store)
    truncate(store / "image/c/1/0/0/0")
    refused = runner.invoke(app, [*args, "--repair", "--seed", "5"])
    assert refused.exit_code == 1 and "seed: 0 -> 5" in flat(refused.output)
    assert every_file_digest(store) != original  # nothing was touched by the refused repair
    result = runner.invoke(app, [*args, "--repair"])
    assert result.exit_code == 0, result.output
    output = flat(result.output)
    assert "shard 1: image/c/1/0/0/0 truncated" in output and "regenerated shard(s) 1;" in output
    assert every_file_digest(store) == original


def test_label_arrays_are_verified_and_repaired(tmp_path: Path) -> None:
    store = tmp_path / "l.zarr"
    args = ["generate", "randocc", "--out", str(store), "--n", "3", "--size", "32", "--shard-size", "2",
            "--workers", "1", "--no-preview", "--labels", "parsing"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0, "generate"
    original = every_file_digest(store)
    flip_byte(store / "parsing/c/1/0/0")
    assert [(p.shard, p.key, p.kind) for p in verify_one(store).problems] == [(1, "parsing/c/1/0/0", "corrupt")]
    result = runner.invoke(app, [*args, "--repair"])
    assert result.exit_code == 0, result.output
    assert every_file_digest(store) == original
