"""Repair that proves what it wrote (issue 23): mark_for_repair leaves a store that verify calls bad and readers
refuse at every crash point, and a regenerated shard must give back the bytes recorded before the repair."""

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import occgen.store.integrity as integrity
from occgen.core.errors import StoreError
from occgen.recipes.base import Sample
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.generate import generate
from occgen.run.verify import repair_store
from occgen.store.integrity import mark_for_repair, verify_one
from occgen.store.schema import ShardReader


class Crash(Exception):
    """The process dying at this point."""


def every_file_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def card(store: Path) -> dict[str, Any]:
    return json.loads((store / "zarr.json").read_text())["attributes"]["occgen"]


@pytest.fixture
def pristine(tmp_path: Path, small_recipe: RandOccRecipe) -> Path:
    generate(small_recipe, tmp_path / "pristine.zarr", n=5, shard_size=2)
    return tmp_path / "pristine.zarr"


def steps_of_mark_for_repair(store: Path, monkeypatch: pytest.MonkeyPatch, crash_at: int | None) -> int:
    """Run mark_for_repair(store, [1]) with the process 'dying' at its ``crash_at``-th array access (every write
    of the card's successors and every delete goes through one); returns the accesses made."""
    real = integrity.array
    calls = 0

    def counting(group: Any, name: str) -> Any:
        nonlocal calls
        calls += 1
        if calls == crash_at:
            raise Crash(f"killed at array access {calls} ({name})")
        return real(group, name)

    monkeypatch.setattr(integrity, "array", counting)
    try:
        mark_for_repair(store, [1])
    finally:
        monkeypatch.setattr(integrity, "array", real)
    return calls


def test_every_crash_point_of_mark_for_repair_leaves_a_store_called_bad(
    tmp_path: Path, pristine: Path, small_recipe: RandOccRecipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = every_file_digest(pristine)
    whole = tmp_path / "whole.zarr"
    shutil.copytree(pristine, whole)
    steps = steps_of_mark_for_repair(whole, monkeypatch, crash_at=None)
    assert steps >= 6  # the digest array, the flag, four array objects
    outcomes = []
    for crash_at in range(1, steps + 1):
        store = tmp_path / f"crash{crash_at}.zarr"
        shutil.copytree(pristine, store)
        with pytest.raises(Crash):
            steps_of_mark_for_repair(store, monkeypatch, crash_at)
        if every_file_digest(store) == original:
            outcomes.append("untouched")  # died before its first write: the store is as sound as before
        else:
            with pytest.raises(StoreError, match="incomplete"):
                ShardReader(store)  # never read back as a complete store (of zero-filled shards)
            check = verify_one(store)
            assert not check.ok and any(str(p).startswith("card: ") for p in check.problems), crash_at
            outcomes.append("bad")
        generate(small_recipe, store, n=5, shard_size=2)  # the command that wrote it, again: nothing lost
        assert every_file_digest(store) == original, crash_at
    assert outcomes[0] == "untouched" and set(outcomes[1:]) == {"bad"}


def test_a_repair_keeps_the_recorded_digest_and_a_faithful_repair_matches_it(pristine: Path, small_recipe) -> None:
    original = every_file_digest(pristine)
    (pristine / "image/c/1/0/0/0").write_bytes(b"damaged")
    mark_for_repair(pristine, [1])
    kept = card(pristine)["repair"]["shards"]["1"]
    assert set(kept) == {"image", "face_mask", "occluder_mask", "metadata"}
    assert kept["image"]["key"] == "image/c/1/0/0/0" and len(kept["image"]["sha256"]) == 64
    assert not (pristine / "image/c/1/0/0/0").exists()
    generate(small_recipe, pristine, n=5, shard_size=2)
    assert every_file_digest(pristine) == original and "repair" not in card(pristine)


def test_a_repair_that_gives_other_bytes_says_so_and_leaves_the_store_unrepaired(
    pristine: Path, small_recipe: RandOccRecipe
) -> None:
    (pristine / "image/c/1/0/0/0").write_bytes(b"damaged")
    old = card(pristine)
    real_make = small_recipe.make

    def other_environment(index: int) -> Sample:  # e.g. another OpenCV: other pixels from the same seed
        sample = real_make(index)
        return dataclasses.replace(sample, image=255 - sample.image)

    small_recipe.make = other_environment  # type: ignore[method-assign]
    with pytest.raises(StoreError, match=r"shard 1 image sha256 \w{12} -> \w{12}.*constraints\.txt.*incomplete"):
        repair_store(small_recipe, pristine)
    with pytest.raises(StoreError, match="incomplete"):
        ShardReader(pristine)
    problems = [str(p) for p in verify_one(pristine).problems]
    assert problems == ["card: repaired shard(s) [1] differ from the digests recorded before the repair "
                        "(see docs/integrity.md)"]  # fmt: skip
    mismatch = card(pristine)["repair"]["mismatch"]
    assert [(m["shard"], m["array"]) for m in mismatch] == [(1, "image")]
    assert mismatch[0]["old"] != mismatch[0]["new"] and mismatch[0]["old"] is not None
    with pytest.raises(StoreError, match="differ from the bytes recorded"):
        generate(small_recipe, pristine, n=5, shard_size=2)  # a plain resume does not finish it either
    generate(small_recipe, pristine, n=5, shard_size=2, overwrite=True)  # regenerated whole, on purpose
    assert card(pristine)["complete"] is True and card(pristine)["generation"] == old["generation"]
    assert verify_one(pristine).ok
