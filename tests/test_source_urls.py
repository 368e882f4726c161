"""Source folders (faces, textures, hands) at s3:// URLs, against a real local S3 server (moto on 127.0.0.1,
started here; see s3_server.py): copied once into the local cache, recorded by their URL, and giving the
same stores as the same folders read locally."""

from __future__ import annotations

import json
import pickle
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import SourceError, StoreError
from occgen.core.files import demo_root
from occgen.core.location import ENV_OPTIONS, parse_location
from occgen.sources.folder_cache import ENV_CACHE_DIR, materialise
from occgen.sources.textures import DTDTextures
from occgen.store.schema import ShardReader

sys.path.insert(0, str(Path(__file__).parent))
from s3_server import S3Server, moto_s3  # noqa: E402


def error_lines(output: str) -> list[str]:
    """The lines of a failed command's output that are its error (the demo-data note is information, not error)."""
    return [line for line in output.strip().splitlines() if line.strip() and not line.startswith("note:")]

ARRAYS = ("image", "face_mask", "occluder_mask", "metadata")
BUCKET = "sources"
COMMON = ["--n", "4", "--size", "32", "--shard-size", "2", "--seed", "5", "--workers", "1", "--no-preview"]


@pytest.fixture(scope="module")
def s3() -> Any:
    with moto_s3() as server:
        server.make_bucket(BUCKET)
        fs = _fs(server)
        for name in ("faces", "dtd", "hands", "objects"):
            fs.put(str(demo_root() / name), f"{BUCKET}/demo/{name}", recursive=True)
        yield server


def _fs(server: S3Server) -> Any:
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True, **server.options())


@pytest.fixture
def env(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Storage options from the environment and a fresh cache folder; returns the cache folder."""
    monkeypatch.setenv(ENV_OPTIONS, json.dumps(s3.options()))
    cache = tmp_path / "cache"
    monkeypatch.setenv(ENV_CACHE_DIR, str(cache))
    return cache


def _generate(recipe: str, out: Path, *args: str) -> None:
    result = CliRunner().invoke(app, ["generate", recipe, *COMMON, *args, "--out", str(out)])
    assert result.exit_code == 0, result.output


def assert_same_store(a: Path, b: Path) -> tuple[dict, dict]:
    ra, rb = ShardReader(a), ShardReader(b)
    for name in ARRAYS:
        assert np.array_equal(ra.arrays(name)[:], rb.arrays(name)[:]), name
    assert ra.card["generation"] == rb.card["generation"]
    return ra.card, rb.card


def test_randocc_from_s3_faces_and_textures_equals_local_folders(env: Path, tmp_path: Path) -> None:
    demo = demo_root()
    _generate("randocc", tmp_path / "local.zarr", "--faces", str(demo / "faces"), "--textures", str(demo / "dtd"))
    faces, textures = f"s3://{BUCKET}/demo/faces", f"s3://{BUCKET}/demo/dtd"
    # 2 worker processes (a LocalCluster): the sources travel pickled, with their URL and local copy
    _generate("randocc", tmp_path / "s3.zarr", "--faces", faces, "--textures", textures, "--workers", "2")
    local_card, s3_card = assert_same_store(tmp_path / "local.zarr", tmp_path / "s3.zarr")
    assert s3_card["sources"]["faces"]["root"] == faces  # recorded by URL, not by the cache path
    assert s3_card["sources"]["textures"]["root"] == textures
    for name in ("faces", "textures"):
        assert s3_card["sources"][name]["fingerprint"] == local_card["sources"][name]["fingerprint"]
    copies = [p for p in env.iterdir() if p.is_dir()]
    assert sorted(p.name.split("-")[0] for p in copies) == ["dtd", "faces"]  # one copy each
    assert sorted(p.name for p in env.glob("*.json")) == sorted(f"{p.name}.json" for p in copies)  # + manifests
    # The store made from the local folders resumes (here: is complete) when asked again with the URLs.
    _generate("randocc", tmp_path / "local.zarr", "--faces", faces, "--textures", textures)


def test_natocc_hands_from_s3_equals_local_folder(env: Path, tmp_path: Path) -> None:
    args = ["--objects-frac", "0"]
    _generate("natocc", tmp_path / "local.zarr", *args, "--hands", str(demo_root() / "hands"))
    _generate("natocc", tmp_path / "s3.zarr", *args, "--hands", f"s3://{BUCKET}/demo/hands")
    _, s3_card = assert_same_store(tmp_path / "local.zarr", tmp_path / "s3.zarr")
    assert s3_card["sources"]["hands"]["root"] == f"s3://{BUCKET}/demo/hands"


def test_natocc_hands_and_objects_at_urls_in_params_with_its_storage_options(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """natocc.hands_dir / natocc.objects_dir as URLs in params.yaml, opened with natocc.storage_options."""
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path / "cache"))
    monkeypatch.setenv(ENV_OPTIONS, json.dumps({"key": s3.key, "secret": s3.secret}))  # credentials: environment only

    def params(name: str, hands: str, objects: str, **extra: str) -> Path:
        natocc = {"hands_dir": hands, "objects_dir": objects, "objects_frac": 0.5, **extra}
        path = tmp_path / f"{name}.yaml"
        path.write_text(json.dumps({"natocc": natocc}))  # JSON is YAML
        return path

    demo = demo_root()
    local = params("local", str(demo / "hands"), str(demo / "objects"))
    public = {k: v for k, v in s3.options().items() if k not in ("key", "secret")}  # no credentials in params
    remote = params("remote", f"s3://{BUCKET}/demo/hands", f"s3://{BUCKET}/demo/objects",
                    storage_options=json.dumps(public))  # fmt: skip
    _generate("natocc", tmp_path / "local.zarr", "--params", str(local))
    _generate("natocc", tmp_path / "s3.zarr", "--params", str(remote))
    _, s3_card = assert_same_store(tmp_path / "local.zarr", tmp_path / "s3.zarr")
    assert s3_card["sources"]["objects"]["root"] == f"s3://{BUCKET}/demo/objects"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://no-such-bucket/faces", "s3://no-such-bucket/faces: bucket 'no-such-bucket' does not exist; create"),
        (f"s3://{BUCKET}/not/there", f"s3://{BUCKET}/not/there: no files under this URL; check the bucket and prefix"),
    ],
)
def test_missing_bucket_or_prefix_is_one_line(env: Path, tmp_path: Path, url: str, expected: str) -> None:
    result = CliRunner().invoke(app, ["generate", "randocc", *COMMON, "--faces", url, "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    lines = error_lines(result.output)
    assert len(lines) == 1 and expected in lines[0], result.output
    assert not (tmp_path / "x").exists()


def test_layout_errors_in_a_copied_folder_name_its_url(env: Path, tmp_path: Path) -> None:
    url = f"s3://{BUCKET}/demo/faces"  # faces, not hands: no cut-outs in it
    result = CliRunner().invoke(app, ["generate", "natocc", *COMMON, "--hands", url, "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    lines = error_lines(result.output)
    assert len(lines) == 1 and f"no hand cut-outs in {url};" in lines[0] and str(env) not in lines[0], result.output


def test_cache_is_reused_and_refreshed_when_the_listing_changes(
    s3: S3Server, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3fs

    downloads: list[str] = []  # one entry per object downloaded
    real_get_file = s3fs.S3FileSystem._get_file

    async def counting_get_file(self: Any, rpath: str, *args: Any, **kwargs: Any) -> Any:  # a spy on s3fs
        downloads.append(rpath)
        return await real_get_file(self, rpath, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_get_file", counting_get_file)
    fs = _fs(s3)
    fs.put(str(demo_root() / "dtd"), f"{BUCKET}/changing/dtd", recursive=True)
    location = parse_location(f"s3://{BUCKET}/changing/dtd")
    first = materialise(location)
    files = sorted(p for p in first.local.rglob("*") if p.is_file())
    assert len(files) == len(downloads) > 0
    again = materialise(location)
    assert again.local == first.local and len(downloads) == len(files)  # the second call lists, downloads nothing
    before = DTDTextures(first.local)
    # Overwrite one texture with different bytes: a new listing (size, ETag), a fresh copy beside the old one.
    name = before.texture_id(0)
    fs.pipe_file(f"{BUCKET}/changing/dtd/images/{name}", b"\xff" * 10)
    fresh = materialise(location)
    assert fresh.local != first.local and len(downloads) == 2 * len(files)
    assert (fresh.local / "images" / name).read_bytes() == b"\xff" * 10
    assert first.local.is_dir() and not any(p.name.startswith(".") for p in env.iterdir())  # no temp folders left


def test_source_unpickled_on_a_machine_without_the_copy_downloads_its_own(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dask worker on another host does not see the client's cache: it copies the folder into its own."""
    url = f"s3://{BUCKET}/demo/dtd"
    textures = DTDTextures(parse_location(url))
    expected, described = textures.load(3), textures.describe()
    payload = pickle.dumps(textures)
    shutil.rmtree(env)  # the client's copy is not on the "worker"
    worker_cache = tmp_path / "worker-cache"
    monkeypatch.setenv(ENV_CACHE_DIR, str(worker_cache))
    remote = pickle.loads(payload)
    assert Path(remote.root).is_relative_to(worker_cache)
    assert np.array_equal(remote.load(3), expected)
    assert remote.describe() == described  # same URL and fingerprint


def test_file_urls_are_read_in_place(env: Path) -> None:
    textures = DTDTextures(Path(f"file://{demo_root() / 'dtd'}"))
    assert textures.root == demo_root() / "dtd" and textures.describe()["root"] == str(demo_root() / "dtd")
    assert not env.exists()  # nothing copied


def test_storage_errors_name_the_source_url(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path))
    wrong = s3.options(secret="wrong")
    with pytest.raises(StoreError, match=rf"^s3://{BUCKET}/demo/dtd: access denied .*check the credentials"):
        materialise(parse_location(f"s3://{BUCKET}/demo/dtd", wrong))
    dead = {"endpoint_url": "http://127.0.0.1:9", "key": "k", "secret": "s",
            "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}}}  # fmt: skip
    with pytest.raises(StoreError, match=r"^s3://b/faces: cannot reach the storage endpoint"):
        materialise(parse_location("s3://b/faces", dead))
    with pytest.raises(SourceError):
        DTDTextures(tmp_path / "nothing")


def test_faces_store_at_a_url_is_read_in_place(s3: S3Server, env: Path, tmp_path: Path) -> None:
    faces_store = tmp_path / "faces.zarr"
    result = CliRunner().invoke(
        app, ["generate", "faces", "--size", "32", "--workers", "1", "--no-preview", "--out", str(faces_store)]
    )
    assert result.exit_code == 0, result.output
    _fs(s3).put(str(faces_store), f"{BUCKET}/stores/faces.zarr", recursive=True)
    url = f"s3://{BUCKET}/stores/faces.zarr"
    _generate("randocc", tmp_path / "local.zarr", "--faces", str(faces_store))
    _generate("randocc", tmp_path / "s3.zarr", "--faces", url)
    _, s3_card = assert_same_store(tmp_path / "local.zarr", tmp_path / "s3.zarr")
    assert s3_card["sources"]["faces"]["root"] == url and s3_card["sources"]["faces"]["kind"] == "store"
    assert not env.exists()  # nothing copied


def test_concurrent_materialise_gives_one_complete_copy(s3: S3Server, env: Path) -> None:
    """Several processes or threads copying one folder at once: each downloads, the first rename wins."""
    from concurrent.futures import ThreadPoolExecutor

    location = parse_location(f"s3://{BUCKET}/demo/hands")
    with ThreadPoolExecutor(4) as pool:
        copies = list(pool.map(lambda _: materialise(location), range(4)))
    assert len({copy.local for copy in copies}) == 1
    assert [p.name for p in env.iterdir() if p.is_dir()] == [copies[0].local.name]
    assert not any(p.name.startswith(".") for p in env.iterdir())  # no temporary folders or manifests left
    local = sorted(p.relative_to(demo_root() / "hands") for p in (demo_root() / "hands").rglob("*") if p.is_file())
    cached = sorted(p.relative_to(copies[0].local) for p in copies[0].local.rglob("*") if p.is_file())
    assert cached == local
    for name in local:
        assert (copies[0].local / name).read_bytes() == (demo_root() / "hands" / name).read_bytes()


def test_cache_list_and_prune(s3: S3Server, env: Path) -> None:
    """Each copy records its URL and last use; prune deletes by last use (or all) and old interrupted downloads."""
    import os
    import time

    from occgen.sources.folder_cache import cached, prune

    textures, faces = materialise(parse_location(f"s3://{BUCKET}/demo/dtd")), materialise(
        parse_location(f"s3://{BUCKET}/demo/faces")
    )
    entries = {entry.url: entry for entry in cached()}
    assert set(entries) == {textures.url, faces.url}
    assert entries[faces.url].bytes == sum(p.stat().st_size for p in faces.local.rglob("*") if p.is_file()) > 0
    listed = CliRunner().invoke(app, ["cache", "list"], terminal_width=200)
    assert listed.exit_code == 0 and textures.local.name in listed.output and "2 cached folder(s)" in listed.output
    # the textures were last used 10 days ago; an interrupted download of 2 days ago lies beside them
    manifest = textures.local.with_name(f"{textures.local.name}.json")
    ten_days_ago = time.time() - 10 * 86400
    os.utime(manifest, (ten_days_ago, ten_days_ago))
    leftover = env / f".{textures.local.name}.abc123"
    leftover.mkdir()
    os.utime(leftover, (time.time() - 2 * 86400,) * 2)
    result = CliRunner().invoke(app, ["cache", "prune", "--older-than", "7"])
    assert result.exit_code == 0 and f"removed {textures.local.name}" in result.output
    assert not textures.local.exists() and not manifest.exists() and not leftover.exists() and faces.local.is_dir()
    assert [entry.url for entry in cached()] == [faces.url]
    materialise(parse_location(f"s3://{BUCKET}/demo/dtd"))  # a later run simply downloads it again
    assert len(prune(older_than_days=None)) == 2 and cached() == []
    bad = CliRunner().invoke(app, ["cache", "prune"])
    assert bad.exit_code == 1 and "pass --older-than DAYS or --all" in bad.output
