"""Mixes of clip stores (issue 27): whole clips picked, each clip's frames together and in order, ``frames`` on
the card, clip ids qualified by the part; stills with clips and clips of different lengths refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError, StoreError
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.clips import clip_recipe
from occgen.run.generate import generate
from occgen.store import open_store
from occgen.store.clips import ClipView, clip_samples, whole_clips
from occgen.store.mix import MixPart, build_mix

runner = CliRunner()
FRAMES = 4


@pytest.fixture
def clip_stores(tmp_path: Path, small_recipe: RandOccRecipe) -> tuple[Path, Path]:
    """a.zarr: 3 clips, b.zarr: 2 clips (another seed), 4 frames each."""
    generate(clip_recipe(small_recipe, FRAMES), tmp_path / "a.zarr", n=3 * FRAMES, shard_size=2 * FRAMES)
    small_recipe.seed = 99
    generate(clip_recipe(small_recipe, FRAMES), tmp_path / "b.zarr", n=2 * FRAMES, shard_size=2 * FRAMES)
    return tmp_path / "a.zarr", tmp_path / "b.zarr"


def test_clip_helpers() -> None:
    assert clip_samples(np.array([2, 0]), 3).tolist() == [6, 7, 8, 0, 1, 2]
    assert whole_clips(np.array([6, 7, 8, 0, 1, 2]), 3) and whole_clips(np.array([], np.int64), 3)
    assert not whole_clips(np.array([1, 2, 3]), 3)  # does not start a clip
    assert not whole_clips(np.array([0, 2, 1]), 3)  # frames out of order
    assert not whole_clips(np.array([0, 1]), 3)  # a partial clip


def test_mixed_clips_are_the_source_clips_whole_and_in_order(tmp_path: Path, clip_stores: tuple[Path, Path]) -> None:
    a, b = clip_stores
    out = build_mix([MixPart(a, count=2), MixPart(b, fraction=0.5)], tmp_path / "m.zarr", seed=5)
    mixed = open_store(out)
    assert mixed.card["frames"] == FRAMES and len(mixed) == 3 * FRAMES
    assert [(s["count"], s["of"]) for s in mixed.card["sources"]] == [(2 * FRAMES, 3 * FRAMES), (FRAMES, 2 * FRAMES)]
    sources = {0: ClipView(open_store(a)), 1: ClipView(open_store(b))}
    view = ClipView(mixed)
    assert len(view) == 3
    picked = []
    for c in range(len(view)):
        clip = view[c]
        part, first = mixed.locate(c * FRAMES)
        assert first % FRAMES == 0
        source = sources[part.number][first // FRAMES]
        assert [mixed.locate(c * FRAMES + t)[1] for t in range(FRAMES)] == [first + t for t in range(FRAMES)]
        assert np.array_equal(clip.image, source.image) and np.array_equal(clip.face_mask, source.face_mask)
        assert [m["clip"]["frame"] for m in clip.metadata] == list(range(FRAMES))
        assert clip.clip_id == f"p{part.number}-{source.clip_id}"  # unique though both stores are randocc
        picked.append(clip.clip_id)
    assert len(set(picked)) == 3 and sum(p.startswith("p0-") for p in picked) == 2


def test_repeat_and_prefix_take_whole_clips(tmp_path: Path, clip_stores: tuple[Path, Path]) -> None:
    _, b = clip_stores
    repeated = open_store(build_mix([MixPart(b, count=5)], tmp_path / "r.zarr", repeat=True))
    (part,) = repeated.parts
    assert len(repeated) == 5 * FRAMES and whole_clips(part.store_indices, FRAMES)
    counts = np.bincount(part.store_indices[::FRAMES] // FRAMES, minlength=2)
    assert sorted(counts.tolist()) == [2, 3]  # each clip twice, one of them once more
    prefix = open_store(build_mix([MixPart(b, count=1)], tmp_path / "p.zarr", pick="prefix"))
    assert prefix.parts[0].store_indices.tolist() == list(range(FRAMES))


def test_mix_refuses_stills_with_clips_and_other_lengths(
    tmp_path: Path, clip_stores: tuple[Path, Path], small_recipe: RandOccRecipe
) -> None:
    a, _ = clip_stores
    generate(small_recipe, tmp_path / "stills.zarr", n=4, shard_size=4)
    generate(clip_recipe(small_recipe, 2), tmp_path / "two.zarr", n=4, shard_size=4)
    with pytest.raises(StoreError, match=r"a.zarr: 4-frame clips, .*stills.zarr: stills: a mix holds stills, or"):
        build_mix([MixPart(a), MixPart(tmp_path / "stills.zarr")], tmp_path / "m1.zarr")
    with pytest.raises(StoreError, match="two.zarr: 2-frame clips"):
        build_mix([MixPart(a), MixPart(tmp_path / "two.zarr")], tmp_path / "m2.zarr")
    with pytest.raises(ConfigError, match="has 3 clips; cannot take 4"):
        build_mix([MixPart(a, count=4)], tmp_path / "m3.zarr")
    stills = open_store(build_mix([MixPart(tmp_path / "stills.zarr", count=3)], tmp_path / "m4.zarr"))
    assert len(stills) == 3 and "frames" not in stills.card  # stills count samples, as before


def test_an_index_that_splits_clips_is_refused(tmp_path: Path, clip_stores: tuple[Path, Path]) -> None:
    a, _ = clip_stores
    out = build_mix([MixPart(a)], tmp_path / "m.zarr")
    group = zarr.open_group(str(out), mode="r+")
    group["sample_index"][:] = np.asarray(group["sample_index"][:])[::-1]  # frames backwards
    with pytest.raises(StoreError, match="its index splits the 4-frame clips of a.zarr; re-run occgen mix"):
        open_store(out)


def test_mix_cli_and_folder_export_keep_clips_apart(tmp_path: Path, clip_stores: tuple[Path, Path]) -> None:
    a, b = clip_stores
    mix = tmp_path / "m.zarr"
    result = runner.invoke(app, ["mix", f"{a}:1", f"{b}:1", "--out", str(mix)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["export", str(mix), "--out", str(tmp_path / "frames")])
    assert result.exit_code == 0, result.output
    folders = sorted(p.name for p in (tmp_path / "frames" / "images").iterdir())
    assert len(folders) == 2 and folders[0].startswith("p0-randocc-") and folders[1].startswith("p1-randocc-")
    for folder in folders:
        frames = sorted(p.name for p in (tmp_path / "frames" / "images" / folder).iterdir())
        assert frames == [f"{t:03d}.png" for t in range(FRAMES)]
