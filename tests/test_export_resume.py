"""The one export framework (occgen/run/export_base.py): every format resumes after ``kill -9`` to the files of an
uninterrupted export, and no sample id from a store becomes a path outside ``--out``."""

from __future__ import annotations

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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import StoreError
from occgen.run.export import export_store
from occgen.run.export_base import check_sample_name
from occgen.run.export_hf import HF
from occgen.run.export_shards import export_shards
from occgen.run.export_webdataset import WEBDATASET
from occgen.store.schema import create_store, write_shard

FORMAT_ARGS = {
    "folder": ["--format", "folder"],
    "mmseg": ["--format", "mmseg", "--val-frac", "0.25"],
    "webdataset": ["--format", "webdataset", "--shard-mb", "0.05", "--val-frac", "0.25"],
    "hf": ["--format", "hf", "--shard-mb", "0.05"],
    "dfl": ["--format", "dfl"],  # needs the landmarks label: noise_store(points=True)
    "wflw": ["--format", "wflw"],  # needs the landmarks label too
    "fiftyone": ["--format", "fiftyone"],
}


def noise_store(path: Path, n: int, size: int = 64, shard_size: int = 4, ids: list[str] | None = None,
                points: bool = False) -> Path:  # fmt: skip
    """A complete store of noise images (no recipe needed), ``shard_size`` samples per shard; ``points``: with a
    ``landmarks`` label (a face's points, jittered per sample)."""
    rng = np.random.default_rng(0)
    labels = ("landmarks", "landmark-visible") if points else ()
    group = create_store(path, n=n, size=size, shard_size=shard_size, card={"recipe": "noise", "seed": 0},
                         image_codec="zstd", labels=labels)  # fmt: skip
    for shard in range(-(-n // shard_size)):
        start = shard * shard_size
        count = min(shard_size, n - start)
        names = ids or [f"noise-{i:08d}" for i in range(n)]
        write_shard(group, shard, rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8),
                    rng.integers(0, 2, (count, size, size), dtype=np.uint8),
                    rng.integers(0, 256, (count, size, size), dtype=np.uint8),
                    [{"sample_id": names[start + i], "face_px_before": 100, "face_px_after": 60}
                     for i in range(count)], _point_labels(rng, count, size) if points else None)  # fmt: skip
    group.attrs["occgen"] = {**group.attrs["occgen"], "complete": True}
    return path


def _point_labels(rng: np.random.Generator, count: int, size: int) -> dict[str, np.ndarray]:
    """occgen-parsing-13 points of an upright face in a ``size``² image (eyes, brows, nose, mouth...), jittered."""
    face = np.array([[0.62, 0.42], [0.38, 0.42], [0.62, 0.35], [0.38, 0.35], [0.5, 0.55], [0.5, 0.7], [0.6, 0.7],
                     [0.4, 0.7], [0.5, 0.67], [0.5, 0.73], [0.5, 0.9], [0.75, 0.7], [0.25, 0.7]]) * size  # fmt: skip
    landmarks = (face + rng.normal(0, 1.0, (count, *face.shape))).astype(np.float32)
    return {"landmarks": landmarks, "landmark_visible": np.ones((count, len(face)), np.uint8)}


def output_files(out: Path) -> dict[str, bytes]:
    """Every file of an export but its work folder, by relative path (``out`` itself, which FiftyOne's absolute
    mask paths hold, read as ``<out>``)."""
    return {str(p.relative_to(out)): p.read_bytes().replace(str(out).encode(), b"<out>") for p in sorted(out.rglob("*"))
            if p.is_file() and ".occgen-export" not in p.relative_to(out).parts}  # fmt: skip


def export_cli(store: Path, out: Path, format: str) -> None:
    result = CliRunner().invoke(app, ["export", str(store), "--out", str(out), *FORMAT_ARGS[format], "--workers", "1"])
    assert result.exit_code == 0, result.output


def kill_mid_export(store: Path, out: Path, format: str) -> int:
    """Start ``occgen export`` in a subprocess and SIGKILL it once two chunks are done; returns their count."""
    command = [sys.executable, "-m", "occgen", "export", str(store), "--out", str(out), *FORMAT_ARGS[format],
               "--workers", "1"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    work = out / ".occgen-export"
    deadline = time.monotonic() + 120
    try:
        while len(list(work.glob("*.done.json"))) < 2:
            if process.poll() is not None:
                pytest.fail(f"export ended (exit {process.returncode}) before it was killed: "
                            f"{process.stderr.read().decode()[-400:] if process.stderr else ''}")  # fmt: skip
            assert time.monotonic() < deadline, "no chunk finished in 120 s"
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
        if process.stderr:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    return len(list(work.glob("*.done.json")))


@pytest.mark.parametrize("format", list(FORMAT_ARGS))
def test_export_resumes_after_kill_9_to_the_uninterrupted_files(tmp_path: Path, format: str) -> None:
    store = noise_store(tmp_path / "s.zarr", n=32, points=format in ("dfl", "wflw"))
    reference = tmp_path / "reference"
    export_cli(store, reference, format)
    out = tmp_path / "out"
    done = kill_mid_export(store, out, format)
    work = out / ".occgen-export"
    chunks = len(list((reference / ".occgen-export").glob("*.done.json")))
    assert 2 <= done < chunks and not (work / "complete.json").exists(), "killed after the export finished"
    export_cli(store, out, format)  # the same command again: resumes
    assert output_files(out) == output_files(reference)  # the same files, byte for byte
    assert len(list(work.glob("*.done.json"))) == chunks and (work / "complete.json").exists()
    leftovers = [str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name.endswith(".tmp")]
    assert not leftovers, f"temporary files remain: {leftovers}"
    assert not list((work / "parts").iterdir())  # every part was renamed to its shard


def test_resume_refuses_other_settings_naming_them(tmp_path: Path) -> None:
    store = noise_store(tmp_path / "s.zarr", n=8)
    export_store(store, tmp_path / "o", workers=1)
    with pytest.raises(StoreError, match=r"other settings \(image_format differ\)"):
        export_store(store, tmp_path / "o", image_format="jpg", workers=1)
    export_shards(store, tmp_path / "w", format=WEBDATASET, shard_mb=0.05, workers=1)
    with pytest.raises(StoreError, match=r"other settings \(jpeg_quality differ\)"):
        export_shards(store, tmp_path / "w", format=WEBDATASET, shard_mb=0.05, jpeg_quality=90, workers=1)


@pytest.mark.parametrize(
    "name", ["../evil", "a/b", "..", "", "a\\b", "x\0y", "C:evil", "/abs", ".hidden", "p0-..-x"]
)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(StoreError, match=r"s\.zarr: sample id .* cannot be a file name inside --out"):
        check_sample_name(name, store="s.zarr")


def test_safe_names_pass() -> None:
    for name in ("randocc-00000001", "p1-natocc-00000002", "face_07.v2", "x y"):
        assert check_sample_name(name, store="s.zarr") == name


@pytest.mark.parametrize("format", ["folder", "mmseg"])
def test_a_hostile_sample_id_never_leaves_out(tmp_path: Path, format: str) -> None:
    store = noise_store(tmp_path / "data" / "s.zarr", n=4)
    metadata = zarr.open_group(str(store), mode="a")["metadata"]
    metadata[2] = json.dumps({"sample_id": "../../escaped"})  # written with zarr directly, as an attacker could
    out = tmp_path / "data" / "export" / "out"
    refused = r"s\.zarr: sample id '\.\./\.\./escaped' cannot be a file name inside --out \(it holds a path separator\)"
    with pytest.raises(StoreError, match=refused):
        export_store(store, out, format=format, workers=1)
    assert not list(tmp_path.rglob("escaped*"))
    assert not [p for p in out.rglob("*") if p.is_file() and ".occgen-export" not in p.parts]  # refused up front
    # The sharded formats never name files after sample ids: the id stays inside the sample's JSON.
    export_shards(store, tmp_path / "wds", format=WEBDATASET, shard_mb=0.05, workers=1)
    assert not list(tmp_path.rglob("escaped*"))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sample_id=st.text(alphabet=st.sampled_from(list("ab./\\:~\x00C-_")), min_size=0, max_size=10))
def test_any_sample_id_is_exported_inside_out_or_refused(tmp_path: Path, sample_id: str) -> None:
    """Random ids written into a store's metadata, exported by every format: no file is ever written outside --out
    (and the work folder); an id either becomes a file name inside --out or the export is refused."""
    case = tmp_path / f"case-{abs(hash(sample_id)) % 10**9}"
    store = noise_store(case / "s.zarr", n=2, size=32, shard_size=2)
    metadata = zarr.open_group(str(store), mode="a")["metadata"]
    metadata[1] = json.dumps({"sample_id": sample_id})
    before = {p for p in tmp_path.rglob("*")}
    outs = {fmt: case / f"out-{fmt}" for fmt in ("folder", "mmseg", "webdataset", "hf")}
    for fmt, out in outs.items():
        try:
            if fmt in ("folder", "mmseg"):
                export_store(store, out, format=fmt, workers=1)
            else:
                export_shards(store, out, format=WEBDATASET if fmt == "webdataset" else HF, shard_mb=0.05, workers=1)
        except StoreError as error:
            assert "cannot be a file name inside --out" in str(error) or "sample key" in str(error)
    written = {p for p in tmp_path.rglob("*")} - before
    stray = [p for p in written if not any(p == out or out in p.parents for out in outs.values())]
    assert not stray, f"written outside --out for id {sample_id!r}: {stray}"
