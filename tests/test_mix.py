from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError, StoreError
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.generate import generate
from occgen.store import open_store
from occgen.store.mix import MixPart, build_mix, parse_part
from occgen.store.schema import ShardReader


@pytest.fixture
def two_stores(tmp_path: Path, small_recipe: RandOccRecipe) -> tuple[Path, Path]:
    generate(small_recipe, tmp_path / "a.zarr", n=8, shard_size=4)
    small_recipe.seed = 99
    generate(small_recipe, tmp_path / "b.zarr", n=6, shard_size=4)
    return tmp_path / "a.zarr", tmp_path / "b.zarr"


def test_parse_part() -> None:
    assert parse_part("x.zarr:0.5") == MixPart(Path("x.zarr"), fraction=0.5)
    assert parse_part("x.zarr:12") == MixPart(Path("x.zarr"), count=12)
    assert parse_part("dir/x.zarr") == MixPart(Path("dir/x.zarr"), fraction=1.0)
    with pytest.raises(ConfigError, match="fraction must be in"):
        parse_part("x.zarr:1.5")


def test_mix_resolves_samples_without_copying(tmp_path: Path, two_stores: tuple[Path, Path]) -> None:
    a, b = two_stores
    out = build_mix([MixPart(a, fraction=0.5), MixPart(b, count=6)], tmp_path / "mixes" / "m.zarr", seed=3)
    mixed = open_store(out)
    assert len(mixed) == 10 and mixed.card["kind"] == "mix"
    assert sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) < 20_000  # an index, not pixels
    readers = {"a": ShardReader(a), "b": ShardReader(b)}
    from_a = 0
    for i in range(len(mixed)):
        sample = mixed[i]
        source = readers["a" if sample.metadata["mix_source"].endswith("a.zarr") else "b"]
        original = source[sample.metadata["sample_index"]]
        assert np.array_equal(sample.image, original.image)
        assert np.array_equal(sample.face_mask, original.face_mask)
        from_a += sample.metadata["mix_source"].endswith("a.zarr")
    assert from_a == 4
    again = build_mix([MixPart(a, fraction=0.5), MixPart(b, count=6)], tmp_path / "m2.zarr", seed=3)
    assert np.array_equal(open_store(again).sample_index, mixed.sample_index)


def test_mix_detects_regenerated_and_missing_sources(
    tmp_path: Path, two_stores: tuple[Path, Path], small_recipe: RandOccRecipe
) -> None:
    a, b = two_stores
    out = build_mix([MixPart(a, count=2), MixPart(b, count=2)], tmp_path / "m.zarr")
    small_recipe.seed = 5
    generate(small_recipe, b, n=6, shard_size=4, overwrite=True)
    with pytest.raises(StoreError, match="regenerated since; re-run occgen mix"):
        open_store(out)
    import shutil

    shutil.rmtree(a)
    with pytest.raises(StoreError, match="missing; restore it"):
        open_store(out)


def test_mix_errors(tmp_path: Path, two_stores: tuple[Path, Path]) -> None:
    a, _ = two_stores
    with pytest.raises(ConfigError, match="has 8 samples; cannot take 9"):
        build_mix([MixPart(a, count=9)], tmp_path / "m.zarr")
    build_mix([MixPart(a, count=2)], tmp_path / "m.zarr")
    with pytest.raises(StoreError, match="exists; pass --overwrite"):
        build_mix([MixPart(a, count=2)], tmp_path / "m.zarr")


def test_mix_cli_and_info(tmp_path: Path, two_stores: tuple[Path, Path]) -> None:
    a, b = two_stores
    runner = CliRunner()
    result = runner.invoke(app, ["mix", f"{a}:0.5", f"{b}:0.5", "--out", str(tmp_path / "m.zarr")])
    assert result.exit_code == 0, result.output
    info = runner.invoke(app, ["info", str(tmp_path / "m.zarr")])
    assert info.exit_code == 0 and "4 of 8" in info.output and "3 of 6" in info.output
    preview = runner.invoke(app, ["preview", str(tmp_path / "m.zarr"), "--out", str(tmp_path / "p.png"), "-k", "2"])
    assert preview.exit_code == 0 and (tmp_path / "p.png").exists()


def test_training_dataset_reads_a_mix(tmp_path: Path, two_stores: tuple[Path, Path]) -> None:
    from occgen.train.data import StoreDataset

    a, b = two_stores
    mix_path = build_mix([MixPart(a, fraction=0.5), MixPart(b, count=3)], tmp_path / "m.zarr", seed=1)
    mixed = open_store(mix_path)
    dataset = StoreDataset([mix_path, a], input_size=64)
    assert len(dataset) == len(mixed) + 8
    for i in range(len(mixed)):
        image, face_mask = dataset.load(i)
        assert np.array_equal(image, mixed[i].image) and np.array_equal(face_mask, mixed[i].face_mask)
    assert np.array_equal(dataset.load(len(mixed) + 2)[0], ShardReader(a)[2].image)


def test_an_index_never_gets_the_mix_storage_options_for_a_place_it_names(
    tmp_path: Path, two_stores: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mix index is input: a store it names in full (another bucket, another filesystem) is opened with this
    process's defaults, not with the options (endpoint, credentials) the mix itself was opened with."""
    from occgen.core.location import ENV_OPTIONS, parse_location
    from occgen.store.mix import MixReader

    monkeypatch.delenv(ENV_OPTIONS, raising=False)
    build_mix([MixPart(two_stores[0], count=2)], tmp_path / "m.zarr", seed=0)
    reader = MixReader(tmp_path / "m.zarr")
    reader.location = parse_location("s3://mine/mixes/m.zarr", {"endpoint_url": "http://127.0.0.1:9", "key": "k"})
    beside = reader._source_location("../runs/a.zarr")
    assert beside.url == "s3://mine/runs/a.zarr" and dict(beside.storage_options)["key"] == "k"
    elsewhere = reader._source_location("s3://theirs/x.zarr")
    assert elsewhere.url == "s3://theirs/x.zarr" and dict(elsewhere.storage_options) == {}
    with pytest.raises(StoreError, match="leaves the bucket"):
        reader._source_location("../../../theirs/x.zarr")


def test_mixing_a_mix_is_refused_by_the_library(tmp_path: Path, two_stores: tuple[Path, Path]) -> None:
    a, b = two_stores
    inner = build_mix([MixPart(a, count=2), MixPart(b, count=2)], tmp_path / "inner.zarr")
    with pytest.raises(ConfigError, match="is a mix: nested mixes are not supported") as error:
        build_mix([MixPart(inner, count=2), MixPart(b, count=2)], tmp_path / "outer.zarr")
    message = str(error.value)
    assert "\n" not in message
    assert f"occgen mix {a} {b}" in message  # the stores to mix instead, resolved beside the inner mix
    assert not (tmp_path / "outer.zarr").exists()
