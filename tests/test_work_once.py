"""Work done once (issue 29): the per-process face memo, the texture cache, CelebAMask-HQ part reads, and
the ``python -m benchmarks`` entry point."""

from __future__ import annotations

import importlib.util
import json
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_sources_faces import make_celeba

import occgen.sources.celebamask as celebamask_module
import occgen.sources.textures as textures_module
import occgen.store.integrity as integrity
from occgen.core.errors import ConfigError
from occgen.core.params import BaseConfig
from occgen.run.generate import generate
from occgen.settings import NatOccSettings, RandOccSettings, build_natocc_recipe, build_randocc_recipe
from occgen.sources.faces import CELEBAMASK_PARTS, CelebAMaskHQ, Face, FaceMemo, open_faces
from occgen.sources.textures import TexturesConfig, open_textures


class CountingFaces:
    """A face source that counts its loads (and passes them to the demo faces)."""

    def __init__(self, faces: Any) -> None:
        self.faces, self.name, self.loads, self.parsings = faces, faces.name, 0, 0

    def __len__(self) -> int:
        return len(self.faces)

    def face_id(self, index: int) -> str:
        return self.faces.face_id(index)

    def load(self, index: int, size: int) -> Face:
        self.loads += 1
        return self.faces.load(index, size)

    def load_parsing(self, index: int, size: int, face_mask: np.ndarray | None = None) -> np.ndarray:
        self.parsings += 1
        return self.faces.load_parsing(index, size, face_mask)

    def describe(self) -> dict[str, str | int]:
        return self.faces.describe()


def test_face_memo_decodes_once_read_only_and_equal() -> None:
    faces = CountingFaces(open_faces(None))
    memo = FaceMemo(faces)
    first, again = memo.load(0, 48), memo.load(0, 48)
    assert faces.loads == 1 and again is first
    fresh = open_faces(None).load(0, 48)
    assert np.array_equal(first.image, fresh.image) and np.array_equal(first.face_mask, fresh.face_mask)
    assert first.image.shape == (48, 48, 3) and first.image.dtype == np.uint8
    with pytest.raises(ValueError, match="read-only"):
        first.image[0, 0] = 0
    memo.load(0, 64)  # another size is another entry
    assert faces.loads == 2
    parsing = memo.load_parsing(0, 48, first.face_mask)
    assert memo.load_parsing(0, 48, first.face_mask) is parsing and faces.parsings == 1
    assert np.array_equal(parsing, open_faces(None).load_parsing(0, 48, fresh.face_mask))
    copy = pickle.loads(pickle.dumps(memo))  # a worker starts empty, with the budget
    copy.load(0, 48)
    assert copy.faces.loads == 3
    nothing = FaceMemo(faces, budget_mb=0)
    nothing.load(1, 48), nothing.load(1, 48)
    assert faces.loads == 4  # (the pickled copy counted on its own copy of the source)


def test_natocc_pairs_decode_their_face_once_with_the_same_samples() -> None:
    recipe = build_natocc_recipe(NatOccSettings(base=BaseConfig(seed=3, size=64)))
    counting = CountingFaces(recipe.faces)
    memoised = replace(recipe, faces=counting)
    samples = memoised.make_batch(range(4))  # pairs 0 and 1: two faces, each used by two samples
    assert counting.loads == 2
    plain = replace(recipe, faces=CountingFaces(recipe.faces))
    plain._faces_memo = FaceMemo(plain.faces, budget_mb=0)
    for got, want in zip(samples, plain.make_batch(range(4)), strict=True):
        assert np.array_equal(got.image, want.image) and np.array_equal(got.face_mask, want.face_mask)
        assert np.array_equal(got.occluder_mask, want.occluder_mask) and got.metadata == want.metadata
    assert plain.faces.loads == 4


def test_randocc_reuses_decoded_faces() -> None:
    recipe = build_randocc_recipe(RandOccSettings(base=BaseConfig(seed=1, size=64)))
    counting = CountingFaces(recipe.faces)
    memoised = replace(recipe, faces=counting)
    made = [memoised.make(i) for i in range(6)]
    assert counting.loads == len(recipe.faces) < 6
    assert all(np.array_equal(a.image, recipe.make(i).image) for i, a in enumerate(made))


def test_texture_cache_decodes_once_within_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Path] = []
    real = textures_module.read_image
    monkeypatch.setattr(textures_module, "read_image", lambda path: reads.append(path) or real(path))
    textures = open_textures(None)
    first = textures.load(0)
    assert textures.load(0) is first and len(reads) == 1
    assert np.array_equal(first, real(reads[0])) and first.dtype == np.uint8 and first.ndim == 3
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0, 0] = 1
    uncached = open_textures(None, cache_mb=0)
    uncached.load(0), uncached.load(0)
    assert len(reads) == 3
    small = open_textures(None, cache_mb=first.nbytes / 2**20 * 1.5)  # room for one texture of this size
    for index in (0, 1, 0):
        small.load(index)
    assert len(reads) == 6  # 1 evicted 0, so 0 was decoded again
    assert len(pickle.loads(pickle.dumps(textures))._cache) == 0
    with pytest.raises(ConfigError, match="textures.cache_mb must be >= 0"):
        TexturesConfig(cache_mb=-1)


def test_celebamask_parsing_reads_each_part_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = CelebAMaskHQ(make_celeba(tmp_path, [0]))
    expected_mask = source.load(0, 32).face_mask
    expected = source.load_parsing(0, 32, expected_mask)
    reads: list[str] = []
    real = celebamask_module.read_binary_mask
    monkeypatch.setattr(celebamask_module, "read_binary_mask", lambda path: reads.append(Path(path).name) or real(path))
    parsing = source.load_parsing(0, 32)  # no face mask given: built from the same part files
    assert sorted(reads) == sorted(set(reads)) and len(reads) == 5  # make_celeba writes 5 of the 18 parts
    assert all(name.removeprefix("00000_").removesuffix(".png") in CELEBAMASK_PARTS for name in reads)
    assert np.array_equal(parsing, expected) and parsing.dtype == np.uint8 and parsing.shape == (32, 32)


def load_entry_point() -> Any:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "__main__.py"
    spec = importlib.util.spec_from_file_location("benchmarks_entry", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmarks_entry_point_lists_runs_and_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entry = load_entry_point()
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "bench_figures.py").write_text(
        '"""Gives figures."""\n\ndef run(argv):\n    return [("speed", float(argv[0]), "ms"), ("size", 3, "MB")]\n'
    )
    (scripts / "bench_plain.py").write_text('"""Prints only."""\nimport sys\nprint("plain", sys.argv[1:])\n')
    assert entry.main([], folder=scripts) == 0
    assert "figures          Gives figures." in capsys.readouterr().out
    out = tmp_path / "results.jsonl"
    assert entry.main(["--out", str(out), "figures", "2.5"], folder=scripts) == 0
    assert entry.main(["--out", str(out), "bench_plain", "--x"], folder=scripts) == 0
    assert "plain ['--x']" in capsys.readouterr().out
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["benchmark"], line["figure"], line["unit"]) for line in lines] == [
        ("figures", "speed", "ms"), ("figures", "size", "MB"), ("plain", "cpu_s", "s")
    ]  # fmt: skip
    assert lines[0]["value"] == 2.5 and lines[0]["args"] == ["2.5"] and lines[2]["value"] >= 0
    for line in lines:
        assert line["machine"]["cpu_count"] >= 1 and line["machine"]["cpu_model"]
        assert set(line["versions"]) >= {"numpy", "zarr", "torch", "opencv", "imagecodecs", "python"}
        assert line["versions"]["numpy"] == np.__version__ and "commit" in line and "time" in line
    assert entry.main(["--out", str(out), "nope"], folder=scripts) == 2
    assert "unknown benchmark 'nope'; valid: figures, plain" in capsys.readouterr().err


def test_parallel_verify_reports_what_a_serial_one_does(
    tmp_path: Path, small_recipe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate(small_recipe, tmp_path / "s.zarr", n=9, shard_size=2)
    store = tmp_path / "s.zarr"
    for key in ("image/c/1/0/0/0", "face_mask/c/3/0/0", "occluder_mask/c/4/0/0"):
        data = bytearray((store / key).read_bytes())
        data[len(data) // 2] ^= 0x01
        (store / key).write_bytes(bytes(data))
    (store / "image/c/0/0/0/0").unlink()
    monkeypatch.setattr(integrity, "VERIFY_THREADS", 1)
    serial = integrity.verify_one(store)
    monkeypatch.setattr(integrity, "VERIFY_THREADS", 4)
    monkeypatch.setattr(integrity.os, "cpu_count", lambda: 8)  # 4 threads on local disk
    parallel = integrity.verify_one(store)
    assert [(p.shard, p.key, p.kind) for p in parallel.problems] == [
        (0, "image/c/0/0/0/0", "missing"), (1, "image/c/1/0/0/0", "corrupt"), (3, "face_mask/c/3/0/0", "corrupt"),
        (4, "occluder_mask/c/4/0/0", "corrupt"),
    ]  # fmt: skip
    assert parallel.problems == serial.problems and parallel.bytes_read == serial.bytes_read > 0
    assert parallel.shards == 5 and parallel.bad_shards == [0, 1, 3, 4]
