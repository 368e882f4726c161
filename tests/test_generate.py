import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from occgen.core.errors import ConfigError, SourceError, StoreError
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.generate import generate
from occgen.store.schema import ShardReader

ARRAYS = ("image", "face_mask", "occluder_mask", "metadata")


def read_all(path: Path) -> dict[str, np.ndarray]:
    group = zarr.open_group(str(path), mode="r")
    return {name: group[name][:] for name in ARRAYS}


def assert_same_store(a: Path, b: Path) -> None:
    left, right = read_all(a), read_all(b)
    for name in ARRAYS:
        assert np.array_equal(left[name], right[name]), name


def test_recipe_sample_contract_and_determinism(small_recipe: RandOccRecipe) -> None:
    first, again = small_recipe.make(5), small_recipe.make(5)
    assert first.image.shape == (64, 64, 3) and first.image.dtype == np.uint8
    assert first.face_mask.shape == (64, 64) and set(np.unique(first.face_mask)) <= {0, 1}
    assert np.array_equal(first.image, again.image) and first.metadata == again.metadata
    assert first.metadata["face_id"] == "face2"  # cycle order: sample 5 uses face 5 mod 3
    assert first.metadata["params"]["occluder"]["texture_id"].endswith(".jpg")
    assert not np.array_equal(first.image, small_recipe.make(6).image)


def test_translucent_share_follows_the_parameter(small_recipe: RandOccRecipe) -> None:
    shares = [small_recipe.make(i).metadata["translucent"] for i in range(200)]
    assert 0.2 < np.mean(shares) < 0.4  # p = 0.3


def test_store_round_trip_and_card(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    out = tmp_path / "s.zarr"
    report = generate(small_recipe, out, n=10, shard_size=4)
    assert report.shards_written == 3 and report.samples_written == 10
    reader = ShardReader(out)
    assert len(reader) == 10 and reader.card["complete"] and reader.card["seed"] == 7
    assert reader.card["sources"]["faces"]["count"] == 3
    sample = reader[9]
    expected = small_recipe.make(9)
    assert np.array_equal(sample.image, expected.image)
    assert np.array_equal(sample.face_mask, expected.face_mask)
    assert np.array_equal(sample.occluder_mask, expected.occluder_mask)
    assert sample.metadata == json.loads(json.dumps(expected.metadata))
    assert reader.arrays("image").chunks == (1, 64, 64, 3)


def test_prefix_property(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    generate(small_recipe, tmp_path / "a.zarr", n=6, shard_size=4)
    generate(small_recipe, tmp_path / "b.zarr", n=11, shard_size=4)
    small, large = read_all(tmp_path / "a.zarr"), read_all(tmp_path / "b.zarr")
    for name in ARRAYS:
        assert np.array_equal(small[name], large[name][:6]), name


@pytest.mark.slow
def test_one_and_two_workers_give_identical_stores(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    generate(small_recipe, tmp_path / "w1.zarr", n=24, shard_size=4, workers=1)
    generate(small_recipe, tmp_path / "w2.zarr", n=24, shard_size=4, workers=2)
    assert_same_store(tmp_path / "w1.zarr", tmp_path / "w2.zarr")


def test_rerun_skips_and_other_settings_refuse(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    out = tmp_path / "s.zarr"
    generate(small_recipe, out, n=8, shard_size=4)
    assert generate(small_recipe, out, n=8, shard_size=4).shards_written == 0
    with pytest.raises(StoreError, match=r"different settings \(differs in: n: 8 -> 9\).*--overwrite"):
        generate(small_recipe, out, n=9, shard_size=4)
    small_recipe.seed = 8
    with pytest.raises(StoreError, match=r"differs in: seed: 7 -> 8\)"):
        generate(small_recipe, out, n=8, shard_size=4)
    assert generate(small_recipe, out, n=8, shard_size=4, overwrite=True).shards_written == 2
    assert ShardReader(out).card["seed"] == 8


def test_bad_run_arguments(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    with pytest.raises(ConfigError, match="--n must be at least 1, got 0"):
        generate(small_recipe, tmp_path / "s.zarr", n=0)
    assert not (tmp_path / "s.zarr").exists()
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="a_file"):
        generate(small_recipe, blocker / "s.zarr", n=2)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(StoreError, match="exists and is not an occgen store"):
        generate(small_recipe, tmp_path / "notes", n=2, overwrite=True)
    assert (tmp_path / "notes" / "keep.txt").exists()


def test_corrupt_face_fails_loudly_and_store_is_not_complete(
    tmp_path: Path, face_folder: Path, small_recipe: RandOccRecipe
) -> None:
    (face_folder / "images" / "face2.jpg").write_bytes(b"\x00" * 100)  # first used by sample 2, shard 1
    out = tmp_path / "s.zarr"
    with pytest.raises(SourceError, match="face2.jpg"):
        generate(small_recipe, out, n=8, shard_size=2)
    with pytest.raises(StoreError, match=r"incomplete \(1/4 shards written\)"):
        ShardReader(out)
    assert not zarr.open_group(str(out), mode="r").attrs["occgen"]["complete"]


RUN = [sys.executable, "-m", "occgen", "generate", "randocc", "--size", "64", "--shard-size", "8",
       "--workers", "1", "--no-preview", "--seed", "11"]  # fmt: skip


@pytest.mark.slow
def test_resume_after_kill_equals_uninterrupted_run(tmp_path: Path, face_folder: Path, dtd_root: Path) -> None:
    sources = ["--faces", str(face_folder), "--textures", str(dtd_root)]
    n = 1200
    interrupted = tmp_path / "killed.zarr"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([*RUN, *sources, "--n", str(n), "--out", str(interrupted)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and process.poll() is None:
        try:
            done = int(zarr.open_group(str(interrupted), mode="r")["shard_complete"][:].sum())
        except (FileNotFoundError, KeyError, ValueError, OSError):
            done = 0
        if done >= 3:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    flags = zarr.open_group(str(interrupted), mode="r")["shard_complete"][:]
    assert 3 <= flags.sum() < flags.size, "the run was not interrupted mid-way; raise n"
    with pytest.raises(StoreError, match="incomplete"):
        ShardReader(interrupted)
    resumed = subprocess.run([*RUN, *sources, "--n", str(n), "--out", str(interrupted)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after" in resumed.stderr
    reference = tmp_path / "reference.zarr"
    subprocess.run([*RUN, *sources, "--n", str(n), "--out", str(reference)], check=True, capture_output=True)
    assert_same_store(interrupted, reference)
    assert ShardReader(interrupted).card["complete"]


def test_stats_from_metadata(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    from occgen.store.stats import dataset_stats

    generate(small_recipe, tmp_path / "s.zarr", n=40, shard_size=16)
    reader = ShardReader(tmp_path / "s.zarr")
    stats = dataset_stats(reader)
    assert stats["n"] == 40 and stats["faces"] == 3 and stats["occluder_types"] == {"random-shape": 40}
    translucent = [reader[i].metadata["translucent"] for i in range(40)]
    assert stats["translucent_share"] == pytest.approx(np.mean(translucent))
    fractions = []
    for i in range(40):
        sample = reader[i]
        before = sample.metadata["face_px_before"]
        assert sample.face_mask.sum() == sample.metadata["face_px_after"] <= before
        fractions.append(1 - sample.metadata["face_px_after"] / before)
    assert stats["occluded_face_fraction"]["mean"] == pytest.approx(np.mean(fractions))
    assert 0.05 < stats["occluded_face_fraction"]["mean"] < 0.95


@pytest.mark.slow
def test_external_scheduler_address(tmp_path: Path, small_recipe: RandOccRecipe) -> None:
    from distributed import LocalCluster

    generate(small_recipe, tmp_path / "local.zarr", n=8, shard_size=4)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        generate(small_recipe, tmp_path / "remote.zarr", n=8, shard_size=4, scheduler=cluster.scheduler_address)
    assert_same_store(tmp_path / "local.zarr", tmp_path / "remote.zarr")


def test_faces_store_is_c_wo_and_a_face_source(tmp_path: Path, face_folder: Path, small_recipe: RandOccRecipe) -> None:
    from occgen.recipes.faces import FacesRecipe
    from occgen.sources.faces import FaceFolder, StoreFaces, open_faces

    folder = FaceFolder(face_folder)
    generate(FacesRecipe(folder, seed=0, size=64), tmp_path / "faces.zarr", n=3, shard_size=2)
    reader = ShardReader(tmp_path / "faces.zarr")
    for i in range(3):
        expected = folder.load(i, 64)
        assert np.array_equal(reader[i].image, expected.image)
        assert np.array_equal(reader[i].face_mask, expected.face_mask)
        assert reader[i].occluder_mask.max() == 0 and reader[i].metadata["face_id"] == f"face{i}"
    store_faces = open_faces(tmp_path / "faces.zarr")
    assert isinstance(store_faces, StoreFaces) and len(store_faces) == 3
    # RandOcc from the store of faces is the same as RandOcc from the folder itself.
    from_store = RandOccRecipe(store_faces, small_recipe.occluders, small_recipe.config, seed=7, size=64)
    for i in (0, 4):
        assert np.array_equal(from_store.make(i).image, small_recipe.make(i).image)
    import pickle

    assert len(pickle.loads(pickle.dumps(store_faces))) == 3  # workers get a picklable source
