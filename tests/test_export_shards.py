"""WebDataset and Hugging Face exports: read back with the libraries trainers use, equal to the store."""

from __future__ import annotations

import json
import os
import re
import sys
import tarfile
import tracemalloc
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
import zarr
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError, StoreError
from occgen.recipes.randocc import RandOccRecipe
from occgen.run.export_hf import HF
from occgen.run.export_shards import export_shards, locate, sample_key, store_tags
from occgen.run.export_webdataset import WEBDATASET, read_index
from occgen.run.generate import generate
from occgen.store import open_store
from occgen.store.mix import MixPart, build_mix
from occgen.store.schema import create_store, write_shard

KEY = r"^[A-Za-z0-9_-]+$"


@pytest.fixture
def store(tmp_path: Path, small_recipe: RandOccRecipe) -> Path:
    generate(small_recipe, tmp_path / "s.zarr", n=10, shard_size=4, image_codec="zstd")
    return tmp_path / "s.zarr"


@pytest.fixture
def mix(tmp_path: Path, small_recipe: RandOccRecipe) -> Path:
    """Two same-recipe stores, both named s.zarr (other seeds), mixed 4 + 5."""
    for folder, seed in (("a", 7), ("b", 8)):
        generate(replace(small_recipe, seed=seed), tmp_path / folder / "s.zarr", n=6, shard_size=4)
    parts = [MixPart(tmp_path / "a" / "s.zarr", count=4), MixPart(tmp_path / "b" / "s.zarr", count=5)]
    return build_mix(parts, tmp_path / "mix.zarr", seed=3)


def expected_by_key(path: Path) -> dict[str, tuple[int, object]]:
    reader = open_store(path)
    tags = store_tags(reader)
    result = {}
    for index in range(len(reader)):
        _, part, local = locate(reader, index)
        result[sample_key(tags, part, local)] = (index, reader[index])
    return result


def decode(data: bytes) -> np.ndarray:
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return cv2.cvtColor(array, cv2.COLOR_BGR2RGB) if array.ndim == 3 else array


def all_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
            and ".occgen-export" not in p.parts}  # fmt: skip


@pytest.mark.parametrize("source", ["store", "mix"])
def test_webdataset_round_trip(
    tmp_path: Path, source: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webdataset as wds

    path = request.getfixturevalue(source)
    out = tmp_path / "wds"
    shuffle = source == "mix"  # a mix's stores interleaved in the tars
    report = export_shards(path, out, format=WEBDATASET, shard_mb=0.05, val_frac=0.3, shuffle=shuffle, workers=1)
    expected = expected_by_key(path)
    tars = sorted(out.glob("*.tar"))
    assert len(tars) > 2 and all(t.stat().st_size <= 50_000 for t in tars)  # several shards, each within bounds
    assert report.shards["validation"] >= 1
    seen: dict[str, str] = {}
    for sample in wds.WebDataset([str(t) for t in tars], shardshuffle=False, empty_check=False).decode("rgb8"):
        key = sample["__key__"]
        assert key not in seen and re.match(KEY, key)
        index, stored = expected[key]
        assert np.array_equal(sample["png"], stored.image)  # PNG: exact
        assert np.array_equal(sample["face.png"][..., 0], stored.face_mask * 255)  # 0/255, 1 channel replicated
        assert np.array_equal(sample["occluder.png"][..., 0], stored.occluder_mask)
        metadata = sample["json"]
        assert {k: v for k, v in metadata.items() if k not in ("key", "store", "store_index", "split")} == (
            stored.metadata
        )
        seen[key] = metadata["split"]
        assert Path(sample["__url__"]).name.startswith(metadata["split"])
    assert set(seen) == set(expected)  # every sample once, no key collision between the mixed stores
    order = [expected[key][0] for key, split in seen.items() if split == "train"]
    assert (order != sorted(order)) == shuffle
    assert sum(split == "validation" for split in seen.values()) == round(0.3 * len(expected))
    readme = (out / "README.md").read_text()
    front_matter = yaml.safe_load(readme.split("---\n")[1])
    assert front_matter["license"] == "other" and "faces: user-supplied" in front_matter["license_details"]
    assert front_matter["pretty_name"] == "occgen randocc"  # a mix of two RandOcc stores too
    if source == "store":  # the card's configs also let the Hub's webdataset builder read the folder
        import datasets

        monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
        loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
        assert {split: len(rows) for split, rows in loaded.items()} == {"train": 7, "validation": 3}
        assert set(loaded["train"]["__key__"]) == {k for k, split in seen.items() if split == "train"}


def test_webdataset_index_is_dali_wds2idx(tmp_path: Path, store: Path) -> None:
    out = tmp_path / "wds"
    export_shards(store, out, format=WEBDATASET, shard_mb=0.05, workers=1)
    for tar_path in sorted(out.glob("*.tar")):
        samples = read_index(tar_path.with_suffix(".idx"))
        assert (tar_path.with_suffix(".idx").read_text().splitlines()[0]) == f"v1.2 {len(samples)}"
        data = tar_path.read_bytes()
        with tarfile.open(tar_path) as tar:
            members = [m for m in tar.getmembers()]
            assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" and m.mode == 0o644 for m in members)
            flat = [component for sample in samples for component in sample]
            assert [name for *_, name in flat] == [m.name for m in members]
            for (extension, offset, size, name), member in zip(flat, members, strict=True):
                assert offset % 512 == 0 and offset == member.offset_data and size == member.size
                assert name.split(".", 1)[1] == extension
                assert data[offset : offset + size] == tar.extractfile(member).read()
            assert [len({n.split(".")[0] for *_, n in s}) for s in samples] == [1] * len(samples)


@pytest.mark.parametrize("source", ["store", "mix"])
def test_hf_round_trip_with_load_dataset(
    tmp_path: Path, source: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    path = request.getfixturevalue(source)
    out = tmp_path / "hf"
    report = export_shards(path, out, format=HF, shard_mb=0.06, val_frac=0.3, workers=1)
    parquets = sorted((out / "data").glob("*.parquet"))
    assert len(parquets) == sum(report.shards.values()) > 2
    assert all(p.stat().st_size <= 60_000 for p in parquets)
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    expected = expected_by_key(path)
    assert set(loaded) == {"train", "validation"} and len(loaded["validation"]) == round(0.3 * len(expected))
    keys = []
    for split in loaded:
        for row in loaded[split]:
            _, stored = expected[row["key"]]
            keys.append(row["key"])
            assert np.array_equal(np.asarray(row["image"]), stored.image)
            assert np.array_equal(np.asarray(row["face"]), stored.face_mask * 255)
            assert np.array_equal(np.asarray(row["occluder"]), stored.occluder_mask)
            assert row["sample_id"] == stored.metadata["sample_id"] and row["recipe"] == "randocc"
            assert row["occluder_types"] == stored.metadata["occluder_types"]
            assert row["translucent"] == stored.metadata["translucent"]
            assert json.loads(row["metadata"])["params"] == stored.metadata["params"]
    assert sorted(keys) == sorted(expected)
    torch_rows = loaded["train"].with_format("torch")[:2]
    assert tuple(torch_rows["image"].shape[1:]) == (3, 64, 64) and tuple(torch_rows["face"].shape[1:]) == (1, 64, 64)
    assert "num_examples: 3" in (out / "README.md").read_text()


def undo_assembly(out: Path, keep: int) -> None:
    """Put the export back into the state of an interruption: final shards moved back into the parts
    folder (the first ``keep`` renames stay done, as if assembly stopped there)."""
    work = out / ".occgen-export"
    (work / "complete.json").unlink()
    for source, target in json.loads((work / "renames.json").read_text())["renames"][keep:]:
        os.replace(out / target, work / "parts" / source)


@pytest.mark.parametrize("format", [WEBDATASET, HF], ids=["webdataset", "hf"])
def test_interrupted_export_resumes_to_identical_files(tmp_path: Path, store: Path, format: object) -> None:
    reference = tmp_path / "ref"
    export_shards(store, reference, format=format, shard_mb=0.06, val_frac=0.2, workers=1)
    out = tmp_path / "out"
    export_shards(store, out, format=format, shard_mb=0.06, val_frac=0.2, workers=1)
    assert all_files(out) == all_files(reference)  # reproducible bytes
    # Interrupted with a task unfinished: its marker missing, a half-written part left behind.
    undo_assembly(out, keep=0)
    work = out / ".occgen-export"
    (work / "renames.json").unlink()
    (out / "README.md").unlink()
    marker = sorted(work.glob("*.done.json"))[1]
    for part in json.loads(marker.read_text())["parts"]:
        for suffix in (".tar", ".idx", ".parquet"):
            (work / "parts" / (part["path"] + suffix)).unlink(missing_ok=True)
    marker.unlink()
    (work / "parts" / "half.tar.tmp").write_bytes(b"\0" * 700)
    report = export_shards(store, out, format=format, shard_mb=0.06, val_frac=0.2, workers=1)
    assert report.tasks_written == 1
    assert all_files(out) == all_files(reference)
    # Interrupted during the renames (the first one done).
    undo_assembly(out, keep=1)
    assert export_shards(store, out, format=format, shard_mb=0.06, val_frac=0.2, workers=1).tasks_written == 0
    assert all_files(out) == all_files(reference)
    with pytest.raises(StoreError, match="export with other settings"):
        export_shards(store, out, format=format, shard_mb=0.06, val_frac=0.2, image_format="jpg", workers=1)
    victim = next(p for p in sorted(out.rglob("*")) if p.suffix in (".tar", ".parquet"))
    victim.write_bytes(victim.read_bytes()[:-512])  # a truncated shard is not a finished export
    with pytest.raises(StoreError, match=f"{victim.name} is missing or changed"):
        export_shards(store, out, format=format, shard_mb=0.06, val_frac=0.2, workers=1)


def test_keys_unique_and_safe(tmp_path: Path, store: Path) -> None:
    twice = build_mix([MixPart(store, count=10), MixPart(store, count=10)], tmp_path / "twice.zarr", pick="prefix")
    tags = store_tags(open_store(twice))
    assert tags[0] != tags[1] and tags[1].endswith("-p1") and tags[0].startswith("s-")
    keys = set(expected_by_key(twice))
    assert len(keys) == 20 and all(re.match(KEY, k) for k in keys)


def noise_store(path: Path, n: int, size: int) -> Path:
    """A store of incompressible images (big on disk fast, no recipe needed)."""
    rng = np.random.default_rng(0)
    group = create_store(path, n=n, size=size, shard_size=8, card={"recipe": "noise", "seed": 0}, image_codec="zstd")
    for shard in range(-(-n // 8)):
        count = min(8, n - shard * 8)
        write_shard(group, shard, rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8),
                    rng.integers(0, 2, (count, size, size), dtype=np.uint8), np.zeros((count, size, size), np.uint8),
                    [{"sample_id": f"noise-{shard * 8 + i:08d}"} for i in range(count)])  # fmt: skip
    group.attrs["occgen"] = {**group.attrs["occgen"], "complete": True}
    return path


@pytest.mark.parametrize("format", [WEBDATASET, HF], ids=["webdataset", "hf"])
def test_memory_stays_bounded(tmp_path: Path, format: object) -> None:
    budget = 3_000_000
    store = noise_store(tmp_path / "noise.zarr", n=64, size=192)
    export_shards(store, tmp_path / "warm", format=format, shard_mb=1, workers=1)  # imports, caches
    tracemalloc.start()
    try:
        export_shards(store, tmp_path / "out", format=format, shard_mb=1, workers=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written > 2 * budget  # the export is larger than the budget...
    assert peak < budget, f"peak {peak} bytes for a {written}-byte export"  # ...and memory stays within it
    if format is HF:  # Arrow's buffers are outside tracemalloc: its pool keeps its own high-water mark
        import pyarrow

        assert pyarrow.default_memory_pool().max_memory() < budget


def test_bad_options_and_missing_extra(tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="--shard-mb must be at least"):
        export_shards(store, tmp_path / "o", format=WEBDATASET, shard_mb=0.001)
    with pytest.raises(ConfigError, match="leaves no training sample"):
        export_shards(store, tmp_path / "o", format=WEBDATASET, val_frac=0.99)
    with pytest.raises(ConfigError, match="unknown image format"):
        export_shards(store, tmp_path / "o", format=WEBDATASET, image_format="tif")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    with pytest.raises(ConfigError, match=r"pip install 'occgen\[hf\]'"):
        export_shards(store, tmp_path / "o2", format=HF)
    assert not (tmp_path / "o2").exists()
    result = CliRunner().invoke(app, ["export", str(store), "--out", str(tmp_path / "o3"), "--format", "wds"])
    assert result.exit_code == 1 and "valid: folder, mmseg, webdataset, hf" in result.output
    result = CliRunner().invoke(app, ["export", str(store), "--out", str(tmp_path / "o4"), "--push-to-hub", "u/x"])
    assert result.exit_code == 1 and "add --format hf" in result.output and not (tmp_path / "o4").exists()


@pytest.mark.slow
def test_cli_parallel_export_equals_single_worker(tmp_path: Path, store: Path) -> None:
    single = tmp_path / "one"
    export_shards(store, single, format=WEBDATASET, shard_mb=0.05, workers=1)
    args = ["export", str(store), "--out", str(tmp_path / "two"), "--format", "webdataset", "--shard-mb", "0.05",
            "--workers", "2"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert all_files(tmp_path / "two") == all_files(single)


def test_extra_label_arrays_are_exported_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stores that carry the optional label arrays (parsing, amodal face, clean image) export them too."""
    import webdataset as wds

    path = noise_store(tmp_path / "labels.zarr", n=6, size=32)
    rng = np.random.default_rng(5)
    extra = {"parsing": rng.integers(0, 19, (6, 32, 32), dtype=np.uint8),
             "face_mask_amodal": rng.integers(0, 2, (6, 32, 32), dtype=np.uint8),
             "clean_image": rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)}  # fmt: skip
    group = zarr.open_group(str(path), mode="a")
    for name, values in extra.items():
        group.create_array(name, data=values, chunks=(1, *values.shape[1:]))
    expected = expected_by_key(path)
    export_shards(path, tmp_path / "wds", format=WEBDATASET, image_format="jpg", jpeg_quality=90, workers=1)
    samples = list(wds.WebDataset(str(tmp_path / "wds" / "train-000000.tar"), shardshuffle=False, empty_check=False))
    assert len(samples) == 6
    for sample in samples:
        index, stored = expected[sample["__key__"]]
        assert set(sample) >= {"jpg", "face.png", "occluder.png", "parsing.png", "face_amodal.png", "clean.jpg", "json"}
        assert np.array_equal(decode(sample["parsing.png"]), extra["parsing"][index])
        assert np.array_equal(decode(sample["face_amodal.png"]), extra["face_mask_amodal"][index] * 255)
        for field, image in (("jpg", stored.image), ("clean.jpg", extra["clean_image"][index])):
            bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            once = cv2.imdecode(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1], cv2.IMREAD_COLOR)
            assert np.array_equal(decode(sample[field]), cv2.cvtColor(once, cv2.COLOR_BGR2RGB))  # one JPEG q90 pass
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    export_shards(path, tmp_path / "hf", format=HF, workers=1)
    loaded = datasets.load_dataset(str(tmp_path / "hf"), cache_dir=str(tmp_path / "cache"))["train"]
    assert {"parsing", "face_amodal", "clean"} <= set(loaded.features)
    for row in loaded:
        index, _ = expected[row["key"]]
        assert np.array_equal(np.asarray(row["clean"]), extra["clean_image"][index])  # PNG: exact
        assert np.array_equal(np.asarray(row["parsing"]), extra["parsing"][index])


def test_hf_row_types_follow_the_schema() -> None:
    """Typed columns take what a recipe recorded, cast to the column type; missing fields are null."""
    import pyarrow as pa

    from occgen.run.export_hf import arrow_schema, row
    from occgen.run.export_shards import EncodedSample, ShardSpec

    spec = ShardSpec(store="s.zarr", out="o", format="hf", image_format="png", jpeg_quality=95, shard_bytes=10**6,
                     val_frac=0.0, seed=0)  # fmt: skip
    files = [("image", "png", b"i"), ("face", "face.png", b"f"), ("occluder", "occluder.png", b"o")]
    sample = EncodedSample("k-1", files, {"face_id": 17, "face_px_before": 200, "face_px_after": 50,
                                          "occluder_types": ["hand"], "store_index": 1})  # fmt: skip
    table = pa.Table.from_pylist([row(sample)], schema=arrow_schema(spec))
    values = table.to_pylist()[0]
    assert values["face_id"] == "17" and values["translucent"] is None and values["sample_id"] is None
    assert values["occluded_face_fraction"] == pytest.approx(0.75) and values["occluder_types"] == ["hand"]
    assert values["image"] == {"bytes": b"i", "path": "k-1.png"} and json.loads(values["metadata"])["face_id"] == 17
