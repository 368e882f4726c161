"""Exports keep the dataset open across chunks within a worker (occgen/run/export_base.py, issue 29): a mix is
opened (its index read, every store's card checked) once per worker and run, not once per chunk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from occgen.core.location import parse_location
from occgen.run import export_base
from occgen.run.export import export_store
from occgen.run.export_shards import export_shards
from occgen.run.export_webdataset import WEBDATASET
from occgen.store.mix import MixPart, MixReader, build_mix
from tests.test_export_resume import noise_store


@pytest.fixture
def mix(tmp_path: Path) -> Path:
    """Two noise stores of 100 samples, mixed 80 + 80 (a folder export of a mix: chunks of 64 samples)."""
    for name in ("a", "b"):
        noise_store(tmp_path / f"{name}.zarr", 100, size=16, shard_size=50,
                    ids=[f"{name}-{i:04d}" for i in range(100)])  # fmt: skip
    parts = [MixPart(tmp_path / "a.zarr", count=80), MixPart(tmp_path / "b.zarr", count=80)]
    return Path(build_mix(parts, tmp_path / "mix.zarr", seed=1))


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every MixReader made (by anyone: the client or a chunk), by path."""
    made: list[str] = []
    original = MixReader.__init__

    def counting(self: MixReader, path: Any) -> None:
        made.append(str(path))
        original(self, path)

    monkeypatch.setattr(MixReader, "__init__", counting)
    export_base._OPENED.clear()
    return made


def test_a_folder_export_of_a_mix_opens_it_once_for_all_its_chunks(tmp_path: Path, mix: Path, opens: list[str]) -> None:
    export_store(mix, tmp_path / "out", workers=1)
    written = sorted(p.name for p in (tmp_path / "out" / "images").iterdir())
    assert len(written) == 160 and written[0].startswith("p0-a-") and written[-1].startswith("p1-b-")
    markers = list((tmp_path / "out" / ".occgen-export").glob("*.done.json"))
    assert len(markers) == 3  # several chunks ...
    assert len(opens) == 2  # ... but one open in the client (the plan) and one for every chunk of the run


def test_a_shard_export_of_a_mix_opens_it_once_per_run_for_its_chunks(tmp_path: Path, mix: Path,
                                                                      opens: list[str]) -> None:  # fmt: skip
    export_shards(mix, tmp_path / "one", format=WEBDATASET, shard_mb=0.1, workers=1)
    first = len(opens)
    markers = list((tmp_path / "one" / ".occgen-export").glob("*.done.json"))
    assert len(markers) >= 3
    assert first <= 4  # the client's plan, its size probe, the chunks' one reader, the card: not one per chunk
    export_shards(mix, tmp_path / "two", format=WEBDATASET, shard_mb=0.1, workers=1)
    assert len(opens) == 2 * first  # another run opens it again (the store may have changed between runs)


def test_the_readers_kept_per_process_stay_bounded(tmp_path: Path, mix: Path, opens: list[str]) -> None:
    for run in range(export_base.OPENED_KEPT + 3):
        export_store(mix, tmp_path / f"out{run}", workers=1)
    assert len(export_base._OPENED) == export_base.OPENED_KEPT
    assert len(opens) == 2 * (export_base.OPENED_KEPT + 3)


def test_an_empty_run_token_opens_the_store_afresh(mix: Path, opens: list[str]) -> None:
    location = parse_location(mix)
    first, second = export_base.opened_store(location, ""), export_base.opened_store(location, "")
    assert first is not second and len(opens) == 2
    kept = export_base.opened_store(location, "run-1")
    assert export_base.opened_store(location, "run-1") is kept and len(opens) == 3
    assert len(kept) == 160
