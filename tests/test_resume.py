"""Portable resume: the generation spec keys on what changes samples, not on where files are."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr
from test_sources_faces import make_celeba
from typer.testing import CliRunner

import occgen.run.spec
from occgen.cli.common import with_overrides
from occgen.cli.main import app
from occgen.core.errors import StoreError
from occgen.recipes.randocc import RandOccConfig, RandOccRecipe
from occgen.run.generate import generate, prepare_store
from occgen.run.spec import spec_differences
from occgen.sources.faces import FaceFolder, FacesConfig
from occgen.sources.shapes import RandomShapes
from occgen.sources.textures import DTDTextures
from occgen.store.schema import ShardReader


def recipe_at(faces: Path, dtd: Path) -> RandOccRecipe:
    """The conftest's small RandOcc recipe, on sources at the given folders."""
    occluders = RandomShapes(DTDTextures(dtd), canvas_px=64)
    return RandOccRecipe(FaceFolder(faces), occluders, RandOccConfig(canvas_px=64), seed=7, size=64)


def interrupt(store: Path, shard: int) -> None:
    """Make ``store`` look like a run killed before ``shard`` was written."""
    group = zarr.open_group(str(store), mode="r+")
    group["shard_complete"][shard] = 0
    group.attrs["occgen"] = {**dict(group.attrs["occgen"]), "complete": False}


def test_moved_sources_and_store_still_resume(tmp_path: Path, face_folder: Path, dtd_root: Path) -> None:
    reference = tmp_path / "reference.zarr"
    generate(recipe_at(face_folder, dtd_root), reference, n=5, shard_size=2)
    first = tmp_path / "first" / "s.zarr"
    generate(recipe_at(face_folder, dtd_root), first, n=5, shard_size=2)
    interrupt(first, 2)
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for folder, name in ((face_folder, "my faces"), (dtd_root, "textures"), (first, "s.zarr")):
        shutil.move(folder, moved / name)  # other places, other folder names
    report = generate(recipe_at(moved / "my faces", moved / "textures"), moved / "s.zarr", n=5, shard_size=2)
    assert report.shards_skipped == 2 and report.shards_written == 1
    again, original = ShardReader(moved / "s.zarr"), ShardReader(reference)
    for index in range(5):
        assert np.array_equal(again[index].image, original[index].image)
        assert again[index].metadata == original[index].metadata


def test_changing_occluding_parts_refuses_the_resume_naming_the_key(tmp_path: Path) -> None:
    root = make_celeba(tmp_path / "celeba", [1, 2, 3])
    params = tmp_path / "params.yaml"
    store = tmp_path / "faces.zarr"
    args = ["generate", "faces", "--params", str(params), "--out", str(store), "--n", "3", "--size", "32",
            "--shard-size", "2", "--workers", "1", "--no-preview"]  # fmt: skip
    faces = {"path": str(root), "occluding_parts": ["hair", "eye_g"]}
    params.write_text(yaml.safe_dump({"faces": faces}))
    assert CliRunner().invoke(app, args).exit_code == 0
    interrupt(store, 1)
    # CelebAMask-HQ and the store moved and renamed: still resumes
    shutil.move(root, tmp_path / "CelebAMask-HQ copy")
    shutil.move(store, tmp_path / "moved.zarr")
    store = tmp_path / "moved.zarr"
    args[args.index("--out") + 1] = str(store)
    faces["path"] = str(tmp_path / "CelebAMask-HQ copy")
    params.write_text(yaml.safe_dump({"faces": faces}))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0 and "resumed after 1 shard(s)" in " ".join(result.output.split()), result.output
    interrupt(store, 1)
    params.write_text(yaml.safe_dump({"faces": {**faces, "occluding_parts": ["eye_g"]}}))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert "sources.faces.occluding_parts: ['hair', 'eye_g'] -> ['eye_g']" in message
    params.write_text(yaml.safe_dump({"faces": faces}))  # the original definition resumes
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


def test_a_pixel_library_version_change_refuses(
    tmp_path: Path, small_recipe: RandOccRecipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "s.zarr"
    generate(small_recipe, store, n=4, shard_size=2)
    interrupt(store, 1)
    monkeypatch.setattr(occgen.run.spec.np, "__version__", "99.0.0")
    with pytest.raises(StoreError, match=r"numpy: '[0-9.]+' -> '99.0.0'"):
        generate(small_recipe, store, n=4, shard_size=2)


def test_spec_differences_name_nested_keys_with_old_and_new_values() -> None:
    old = {"n": 4, "params": {"a": 1, "b": {"c": [1, 2]}}, "gone": True}
    new = {"n": 4, "params": {"a": 2, "b": {"c": [1, 2]}}}
    assert spec_differences(old, new) == ["gone: True -> (absent)", "params.a: 1 -> 2"]


def test_keys_added_since_a_store_was_made_resume_it_at_their_defaults(tmp_path: Path, face_folder: Path) -> None:
    """A store whose card predates ``hair_frac`` and ``landmark_scheme`` (their keys taken out of its spec, as
    a store made before they existed) resumes with both at their defaults, to the same bytes as a store made in
    one go; set away from its default, a key the store lacks is refused by name; the cache size never counts."""
    from dataclasses import replace

    from occgen.recipes.natocc import NatOccConfig, NatOccRecipe
    from occgen.sources.hands import MattedHands

    def natocc(**changes: object) -> NatOccRecipe:
        config = replace(NatOccConfig(hand_max_side_px=96, objects_frac=0.0), **changes)
        return NatOccRecipe(FaceFolder(face_folder), MattedHands(None, max_side_px=96), config, seed=3, size=64)

    reference, store = tmp_path / "reference.zarr", tmp_path / "old.zarr"
    generate(natocc(), reference, n=4, shard_size=2)
    generate(natocc(), store, n=4, shard_size=2)
    interrupt(store, 1)
    group = zarr.open_group(str(store), mode="r+")
    card = dict(group.attrs["occgen"])
    spec_params = {k: v for k, v in card["generation"]["params"].items() if k not in ("hair_frac", "landmark_scheme")}
    group.attrs["occgen"] = {**card, "generation": {**card["generation"], "params": spec_params}}
    with pytest.raises(StoreError, match=r"params\.hair_frac: \(absent\) -> 0\.25"):
        generate(natocc(hair_frac=0.25), store, n=4, shard_size=2)
    with pytest.raises(StoreError, match=r"params\.hand_max_side_px: 96 -> 80"):
        generate(natocc(hand_max_side_px=80), store, n=4, shard_size=2)
    report = generate(natocc(cache_mb=1.0), store, n=4, shard_size=2)
    assert report.shards_skipped == 1 and report.shards_written == 1
    again, original = ShardReader(store), ShardReader(reference)
    for index in range(4):
        assert np.array_equal(again[index].image, original[index].image)
        assert np.array_equal(again[index].face_mask, original[index].face_mask)
        assert again[index].metadata == original[index].metadata


def test_spec_exemptions_of_nested_configs() -> None:
    """ADDED keys give their flattened defaults, NO_EFFECT keys their prefix, nested config defaults included."""
    from dataclasses import dataclass, field

    from occgen.core.params import ADDED, NO_EFFECT, SpecExemptions, spec_exemptions

    @dataclass(frozen=True)
    class Inner:
        kept: int = 1
        newer: tuple[int, ...] = field(default=(2, 3), metadata=ADDED)

    @dataclass(frozen=True)
    class Outer:
        inner: Inner = field(default_factory=Inner)
        block: Inner = field(default_factory=Inner, metadata=ADDED)
        cache: int = field(default=5, metadata=NO_EFFECT)

    exempt = spec_exemptions(Outer(), "params")
    assert exempt == SpecExemptions(
        {"params.inner.newer": [2, 3], "params.block.kept": 1, "params.block.newer": [2, 3]}, ("params.cache",)
    )
    old = {"params": {"inner": {"kept": 1}, "cache": 9}}
    new = {"params": {"inner": {"kept": 1, "newer": [2, 3]}, "block": {"kept": 1, "newer": [2, 3]}, "cache": 1}}
    assert spec_differences(old, new, exempt) == []
    assert spec_differences(old, new) == ["params.block.kept: (absent) -> 1", "params.block.newer: (absent) -> [2, 3]",
                                          "params.cache: 9 -> 1", "params.inner.newer: (absent) -> [2, 3]"]  # fmt: skip
    changed = {"params": {**new["params"], "inner": {"kept": 2, "newer": [4]}}}
    expected = ["params.inner.kept: 1 -> 2", "params.inner.newer: (absent) -> [4]"]
    assert spec_differences(old, changed, exempt) == expected


def test_command_line_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = with_overrides(FacesConfig(), path=Path("faces"), split=None)
    assert config.path == tmp_path / "faces" and config.path.is_absolute()


def test_a_store_whose_creation_was_killed_is_made_anew(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    reference, store = tmp_path / "reference.zarr", tmp_path / "s.zarr"
    generate(small_recipe, reference, n=3, shard_size=2)
    prepare_store(small_recipe, store, 3, 2, overwrite=False)  # the store created, no shard written yet
    for name in ("metadata", "shard_complete", "shard_digest"):  # as if killed while creating the arrays
        shutil.rmtree(store / name)
    report = generate(small_recipe, store, n=3, shard_size=2)
    assert report.shards_written == 2
    assert ShardReader(store)[2].metadata == ShardReader(reference)[2].metadata
