"""verify checks a store's layout, not only its shards' bytes (issue 23): array metadata against the card,
the card itself, the flags and digest records, and a mix's index and store references."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.generate import generate
from occgen.store.integrity import verify, verify_one
from occgen.store.mix import MixPart, build_mix

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def edit_card(store: Path, change: Callable[[dict[str, Any]], None]) -> None:
    edit_json(store / "zarr.json", lambda doc: change(doc["attributes"]["occgen"]))


@pytest.fixture
def store(tmp_path: Path, small_recipe: RandOccRecipe) -> Path:
    generate(small_recipe, tmp_path / "s.zarr", n=5, shard_size=2)
    return tmp_path / "s.zarr"


def set_value(store: Path, name: str, index: int, value: Any) -> None:
    zarr.open_array(str(store / name), mode="r+")[index] = value


def swap_digests(store: Path) -> None:
    digests = zarr.open_array(str(store / "shard_digest"), mode="r+")
    first, second = str(digests[0]), str(digests[1])
    digests[0], digests[1] = second, first


def image_shape(doc: dict[str, Any]) -> None:
    doc["shape"] = [4, 64, 64, 3]


def mask_dtype(doc: dict[str, Any]) -> None:
    doc["data_type"] = "int8"


def metadata_shards(doc: dict[str, Any]) -> None:
    doc["codecs"][0]["configuration"]["chunk_shape"] = [1]  # the sharding codec's inner chunks...
    doc["chunk_grid"]["configuration"]["chunk_shape"] = [3]  # ...and shards of 3, not the card's 2


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "array shape": (
        lambda s: edit_json(s / "image/zarr.json", image_shape),
        "image: shape (4, 64, 64, 3), expected (5, 64, 64, 3) (card: n 5, size 64, shard size 2)",
    ),
    "array dtype": (
        lambda s: edit_json(s / "face_mask/zarr.json", mask_dtype),
        "face_mask: dtype int8, expected uint8",
    ),
    "array shards": (
        lambda s: edit_json(s / "metadata/zarr.json", metadata_shards),
        "metadata: shards (3,), expected (2,)",
    ),
    "card key": (lambda s: edit_card(s, lambda c: c.pop("seed")), "card: no 'seed' key"),
    "card n": (lambda s: edit_card(s, lambda c: c.update(n=7)), "image: shape (5, 64, 64, 3), expected (7, 64, 64, 3)"),
    "card size": (
        lambda s: edit_card(s, lambda c: c.update(size="64")),
        "card: size is '64', expected a positive integer",
    ),
    "flag value": (
        lambda s: set_value(s, "shard_complete", 0, 2),
        "shard_complete: shard 0 has flag 2, expected 0 or 1",
    ),
    "digest not JSON": (
        lambda s: set_value(s, "shard_digest", 1, "{not json"),
        "shard_digest: shard 1: the record is not JSON",
    ),
    "digest of another shard": (
        swap_digests,
        "shard_digest: shard 0: the digest of image names 'image/c/1/0/0/0', not 'image/c/0/0/0/0'",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_verify_names_each_layout_problem_in_one_line(store: Path, case: str) -> None:
    damage, line = CASES[case]
    assert verify_one(store).ok
    damage(store)
    check = verify_one(store)
    assert not check.ok
    assert any(str(problem).startswith(line) for problem in check.problems), check.problems
    result = runner.invoke(app, ["verify", str(store)])
    assert result.exit_code == 1 and f"{store}: {line}" in flat(result.output)


@pytest.fixture
def mix(tmp_path: Path, store: Path, small_recipe: RandOccRecipe) -> Path:
    small_recipe.seed = 3
    generate(small_recipe, tmp_path / "b.zarr", n=3, shard_size=2)
    return build_mix([MixPart(store, count=2), MixPart(tmp_path / "b.zarr")], tmp_path / "m.zarr")


def mix_problems(mix: Path) -> list[str]:
    checks = verify(mix)
    assert checks[0].path == mix and checks[0].shards == 0  # the mix's own check comes first
    return [str(problem) for problem in checks[0].problems]


def test_a_sound_mix_verifies(mix: Path) -> None:
    assert mix_problems(mix) == []


def test_verify_checks_a_mix_index_against_its_stores(mix: Path) -> None:
    samples = zarr.open_array(str(mix / "sample_index"), mode="r+")
    values = np.asarray(samples[:])
    values[-1] = 3  # b.zarr holds 3 samples: 0..2
    samples[:] = values
    assert mix_problems(mix) == ["sample_index: entries 0..3 of b.zarr, which holds 3 samples"]
    stores = zarr.open_array(str(mix / "store_index"), mode="r+")
    stores[0] = 2
    problems = mix_problems(mix)
    assert "store_index: entries up to 2, but the mix names 2 store(s)" in problems
    result = runner.invoke(app, ["verify", str(mix)])
    assert result.exit_code == 1 and f"{mix}: store_index: entries up to 2" in flat(result.output)


def test_verify_checks_a_mix_store_references(tmp_path: Path, mix: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "x.txt").write_text("not a store")
    edit_card(mix, lambda card: card["sources"][1].update(path="plain"))
    assert mix_problems(mix) == ["card: sources[1]: plain is not an occgen store"]
    edit_card(mix, lambda card: card["sources"][1].update(path="b.zarr", digest="0" * 16))
    assert mix_problems(mix) == [
        "card: sources[1]: b.zarr has been regenerated since the mix was made; re-run occgen mix"
    ]
    edit_card(mix, lambda card: card.pop("sources"))
    assert "card: no 'sources' key" in mix_problems(mix)


def test_a_digest_record_naming_a_key_outside_the_store_is_corrupt_and_never_read(tmp_path: Path, store: Path) -> None:
    """The records are untrusted input: a key that leaves the store's folder is a problem, not a file to open."""
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"x" * 1000)
    digests = zarr.open_array(str(store / "shard_digest"), mode="r+")
    record = json.loads(str(digests[0]))
    record["image"] = {"key": "../secret.bin", "bytes": 1000, "sha256": "0" * 64}
    digests[0] = json.dumps(record)
    check = verify_one(store)
    found = [str(problem) for problem in check.problems]
    assert "shard 0: ../secret.bin corrupt (the record names a key outside the store)" in found
    parallel_bytes = check.bytes_read
    record["image"]["key"] = "image/c/0/0/0/0"
    digests[0] = json.dumps(record)
    assert verify_one(store).bytes_read > parallel_bytes  # the image shard is read again once the key is sound
