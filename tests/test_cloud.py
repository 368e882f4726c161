"""Stores at s3:// URLs, against a real local S3 server (moto on 127.0.0.1, started here; see s3_server.py)."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

from occgen.cli.main import app
from occgen.core.errors import ConfigError, StoreError
from occgen.core.imageio import read_image
from occgen.core.location import ENV_OPTIONS, parse_location
from occgen.run.generate import generate
from occgen.run.recode import recode
from occgen.settings import build_randocc_recipe, load_randocc_settings
from occgen.store import open_store
from occgen.store.mix import MixPart, build_mix
from occgen.store.schema import ShardReader
from occgen.train.data import StoreDataset
from occgen.train.evaluate import open_eval_data

sys.path.insert(0, str(Path(__file__).parent))
from s3_server import S3Server, moto_s3  # noqa: E402


def error_lines(output: str) -> list[str]:
    """The lines of a failed command's output that are its error (the demo-data note is information, not error)."""
    return [line for line in output.strip().splitlines() if line.strip() and not line.startswith("note:")]

ARRAYS = ("image", "face_mask", "occluder_mask", "metadata")
N, SHARD = 8, 2
runner = CliRunner()


def demo_recipe(seed: int = 11, size: int = 64):
    settings = load_randocc_settings(None)
    return build_randocc_recipe(replace(settings, base=replace(settings.base, seed=seed, size=size)))


def assert_same_samples(a: ShardReader, b: ShardReader, *, same_generation: bool = True) -> None:
    assert len(a) == len(b)
    for name in ARRAYS:
        assert np.array_equal(a.arrays(name)[:], b.arrays(name)[:]), name
    if same_generation:
        assert a.card["generation"] == b.card["generation"]


@pytest.fixture(scope="module")
def s3() -> S3Server:
    with moto_s3() as server:
        server.make_bucket("occ")
        yield server


@pytest.fixture
def s3_env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Storage options from the environment, as a user would set them for every command."""
    monkeypatch.setenv(ENV_OPTIONS, json.dumps(s3.options()))
    return s3.options()


@pytest.fixture(scope="module")
def stores(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The same RandOcc run to a local path (1 worker) and straight to S3 (2 workers on a LocalCluster)."""
    recipe = demo_recipe()
    local = tmp_path_factory.mktemp("local") / "randocc.zarr"
    generate(recipe, local, n=N, shard_size=SHARD, workers=1)
    url = "s3://occ/runs/randocc.zarr"
    with pytest.MonkeyPatch.context() as patch:  # the workers' credentials come from their own environment
        patch.setenv(ENV_OPTIONS, json.dumps({"key": s3.key, "secret": s3.secret}))
        report = generate(recipe, parse_location(url, s3.options()), n=N, shard_size=SHARD, workers=2)
    assert report.samples_written == N and report.path == url
    return local, url


# --- URLs without a server ----------------------------------------------------------------------------------


def test_paths_and_urls_parse_or_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_location("x.zarr").url == str(tmp_path / "x.zarr")  # absolute: tasks never see the cwd
    assert parse_location(f"file://{tmp_path}/y.zarr").path == tmp_path / "y.zarr"
    remote = parse_location("s3://bucket/a/b.zarr", {"anon": True})
    assert (remote.protocol, remote.bucket, remote.name) == ("s3", "bucket", "b.zarr")
    assert parse_location(Path("s3://bucket/a/b.zarr")).url == "s3://bucket/a/b.zarr"  # Path folded '//' into '/'
    assert remote.parent.join("../c.zarr").url == "s3://bucket/c.zarr"
    assert parse_location("s3://bucket/c.zarr").relative_from(remote.parent) == "../c.zarr"
    assert parse_location("s3://other/c.zarr").relative_from(remote.parent) == "s3://other/c.zarr"
    with pytest.raises(ConfigError, match="neither a path nor a URL.*s3://bucket/path"):
        parse_location("s3:/bucket/x.zarr")
    with pytest.raises(ConfigError, match="neither a path nor a URL"):
        parse_location("s3://")
    with pytest.raises(ConfigError, match="unsupported URL scheme 'nosuchfs'"):
        parse_location("nosuchfs://bucket/x.zarr")
    with pytest.raises(ConfigError, match="OCCGEN_STORAGE_OPTIONS is not valid JSON"):
        monkeypatch.setenv(ENV_OPTIONS, "{endpoint")
        parse_location("s3://bucket/x.zarr")


def test_missing_filesystem_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if s3fs were not installed: fsspec cannot import its S3 implementation."""
    registry = importlib.import_module("fsspec.registry")  # the module; `fsspec.registry` is a mapping

    monkeypatch.setitem(registry.known_implementations, "s3",
                        {"class": "no_such_module_s3fs.S3FileSystem", "err": "Install s3fs to access S3"})  # fmt: skip
    monkeypatch.delitem(registry._registry, "s3", raising=False)
    with pytest.raises(ConfigError, match=r"s3:// URLs need s3fs: pip install 'occgen\[s3\]'"):
        parse_location("s3://bucket/x.zarr")


def test_cli_url_never_becomes_a_local_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old bug: `--out s3://bucket/x.zarr` wrote a local folder `s3:`. Now it goes to S3 or fails in one line."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_OPTIONS, json.dumps({"key": "k", "secret": "s"}))  # credentials: the environment only
    dead = json.dumps({"endpoint_url": "http://127.0.0.1:9",
                       "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}}})  # fmt: skip
    runner = CliRunner()
    args = ["generate", "randocc", "--n", "2", "--size", "32", "--no-preview", "--workers", "1"]
    result = runner.invoke(app, ["--storage-options", dead, *args, "--out", "s3://bucket/x.zarr"])
    assert result.exit_code == 1
    lines = error_lines(result.output)
    assert len(lines) == 1 and "s3://bucket/x.zarr: cannot reach the storage endpoint (http://127.0.0.1:9)" in lines[0]
    result = runner.invoke(app, [*args, "--out", "nosuchfs://bucket/x.zarr"])
    assert result.exit_code == 1 and "unsupported URL scheme 'nosuchfs'" in result.output
    assert list(tmp_path.iterdir()) == []  # no folder 's3:' or 'nosuchfs:'


# --- against the local S3 server ----------------------------------------------------------------------------


@pytest.mark.slow
def test_generate_to_s3_with_two_workers_equals_local_run(s3: S3Server, stores: tuple[Path, str]) -> None:
    local, url = stores
    remote = ShardReader(parse_location(url, s3.options()))
    assert remote.card["complete"] and remote.card["n"] == N
    assert_same_samples(remote, ShardReader(local))
    fs = parse_location(url, s3.options()).filesystem()
    # One object per shard of each array: a shard is written whole by one task.
    assert sorted(fs.ls(f"{url}/image/c", detail=False)) == [f"occ/runs/randocc.zarr/image/c/{i}" for i in range(4)]


@pytest.mark.slow
def test_readers_take_s3_urls(s3_env: dict, stores: tuple[Path, str], tmp_path: Path) -> None:
    local, url = stores
    runner = CliRunner()
    info = runner.invoke(app, ["info", "--json", url])
    assert info.exit_code == 0, info.output
    card = json.loads(info.output)
    assert (card["n"], card["shards_done"], card["complete"]) == (N, N // SHARD, True) and card["bytes"] > 0

    for store, out in ((url, tmp_path / "s3.png"), (str(local), tmp_path / "local.png")):
        assert runner.invoke(app, ["preview", store, "--out", str(out), "-k", "3"]).exit_code == 0
    assert np.array_equal(read_image(tmp_path / "s3.png"), read_image(tmp_path / "local.png"))

    for store, out in ((url, tmp_path / "exp_s3"), (str(local), tmp_path / "exp_local")):
        result = runner.invoke(app, ["export", store, "--out", str(out), "--workers", "1"])
        assert result.exit_code == 0, result.output
    names = sorted(p.relative_to(tmp_path / "exp_local") for p in (tmp_path / "exp_local").rglob("*.png"))
    assert len(names) == 2 * N
    for name in names:
        assert (tmp_path / "exp_s3" / name).read_bytes() == (tmp_path / "exp_local" / name).read_bytes()

    for store, out in ((url, tmp_path / "wds_s3"), (str(local), tmp_path / "wds_local")):
        result = runner.invoke(app, ["export", store, "--out", str(out), "--format", "webdataset", "--workers", "1"])
        assert result.exit_code == 0, result.output
    shards = sorted(p.name for p in (tmp_path / "wds_local").rglob("*.tar"))
    assert shards and shards == sorted(p.name for p in (tmp_path / "wds_s3").rglob("*.tar"))
    for name in shards:
        remote_tar, local_tar = (next((tmp_path / folder).rglob(name)) for folder in ("wds_s3", "wds_local"))
        assert remote_tar.read_bytes() == local_tar.read_bytes()

    remote_data, local_data = StoreDataset([url], input_size=64), StoreDataset([local], input_size=64)
    assert len(remote_data) == N
    for i in (0, N - 1):
        for a, b in zip(remote_data[i], local_data[i], strict=True):
            assert np.array_equal(np.asarray(a), np.asarray(b))

    count, items = open_eval_data(url)  # what `occgen evaluate --data s3://...` reads
    local_count, local_items = open_eval_data(local)
    assert count == local_count == N
    for a, b in zip(items, local_items, strict=True):
        assert np.array_equal(a.truth, b.truth) and np.array_equal(a.image, b.image)


@pytest.mark.slow
def test_recode_and_mix_on_s3(s3: S3Server, stores: tuple[Path, str]) -> None:
    local, url = stores
    options = s3.options()
    recoded = parse_location("s3://occ/runs/recoded.zarr", options)
    recode(parse_location(url, options), recoded, image_codec="zstd", workers=1)
    # lossless codecs both: same pixels
    assert_same_samples(ShardReader(recoded), ShardReader(local), same_generation=False)
    mix_url = build_mix(
        [MixPart(url, count=3), MixPart(recoded.url, count=2)], "s3://occ/mixes/m.zarr", seed=1, storage_options=options
    )
    mix = open_store(parse_location(mix_url, options))
    assert [source["path"] for source in mix.card["sources"]] == ["../runs/randocc.zarr", "../runs/recoded.zarr"]
    from occgen.store.integrity import verify

    checks = verify(parse_location(mix_url, options))  # a mix's stores, found relative to it in the bucket
    assert [check.path for check in checks] == [mix_url, url, recoded.url] and all(check.ok for check in checks)
    reference = ShardReader(local)
    assert len(mix) == 5
    for i in range(len(mix)):
        sample = mix[i]
        expected = reference[int(mix.sample_index[i])]
        assert np.array_equal(sample.image, expected.image) and np.array_equal(sample.face_mask, expected.face_mask)


def test_label_arrays_on_s3_read_like_local_ones(s3: S3Server, tmp_path: Path) -> None:
    """Every optional label (clean faces as box + patch) read from S3, in shard order and out of it."""
    recipe, labels = demo_recipe(seed=4), ("parsing", "amodal", "clean", "occluder-class")
    local = tmp_path / "rich.zarr"
    generate(recipe, local, n=6, shard_size=3, workers=1, labels=labels)
    url = parse_location("s3://occ/runs/rich.zarr", s3.options())
    generate(recipe, url, n=6, shard_size=3, workers=1, labels=labels)
    here, there = ShardReader(local), ShardReader(url)
    assert there.label_names == here.label_names == ("parsing", "face_mask_amodal", "clean_image", "occluder_class")
    occluded = 0
    for index in [*range(6), 4, 0, 5, 1]:
        expected, got = here.labels(index), there.labels(index)
        assert all(np.array_equal(expected[name], got[name]) for name in expected), index
        occluded += not np.array_equal(got["clean_image"], there[index].image)
    assert occluded >= 6  # most samples' clean faces differ from their images (a patch was read and pasted)


def test_verify_and_repair_a_store_on_s3(s3: S3Server, s3_env: dict, tmp_path: Path) -> None:
    """A damaged object of a store at a URL is named by verify, and --repair regenerates the same bytes."""
    import s3fs

    from occgen.run.verify import repair_store
    from occgen.store.integrity import verify_one

    recipe, url = demo_recipe(seed=6), "s3://occ/runs/verified.zarr"
    generate(recipe, parse_location(url, s3.options()), n=6, shard_size=2, workers=1)
    assert verify_one(url).ok and runner.invoke(app, ["verify", url]).exit_code == 0
    fs = s3fs.S3FileSystem(**s3.options())
    key = "runs/verified.zarr/image/c/1/0/0/0"
    original = fs.cat_file(f"occ/{key}")
    fs.pipe_file(f"occ/{key}", original[:-5])  # truncated, as by an interrupted upload
    check = verify_one(url)
    assert [(p.shard, p.kind) for p in check.problems] == [(1, "truncated")] and check.path == url
    result = runner.invoke(app, ["verify", url])
    flat = " ".join(result.output.split())
    assert result.exit_code == 1 and f"{url}: shard 1: image/c/1/0/0/0 truncated" in flat
    before, after = repair_store(recipe, url)
    assert before.bad_shards == [1] and after.ok and fs.cat_file(f"occ/{key}") == original


def test_a_store_at_a_url_has_one_writer(s3: S3Server, tmp_path: Path) -> None:
    """The lock object beside a store at a URL: another host's refuses a second writer; one left by a dead
    run of this host is replaced; the holder removes it when done."""
    import socket

    import s3fs

    from occgen.store.lock import store_lock

    fs = s3fs.S3FileSystem(**s3.options())
    url = "s3://occ/runs/locked.zarr"
    location = parse_location(url, s3.options())
    elsewhere = {"command": "generate", "pid": 99, "host": "node-elsewhere", "since": "2026-11-30T06:00:00Z"}
    fs.pipe_file("occ/runs/locked.zarr.lock", json.dumps(elsewhere).encode())
    with pytest.raises(StoreError, match=r"being written by occgen generate \(pid 99 on node-elsewhere.*delete "
                                         r"s3://occ/runs/locked.zarr.lock"):  # fmt: skip
        generate(demo_recipe(), location, n=2, shard_size=2, workers=1)
    assert not fs.exists("occ/runs/locked.zarr")  # refused before anything was written
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = {**elsewhere, "host": socket.gethostname(), "pid": int(dead.stdout)}
    fs.pipe_file("occ/runs/locked.zarr.lock", json.dumps(gone).encode())  # this host, its process is gone
    with store_lock(location, "generate") as lock:
        assert lock == "s3://occ/runs/locked.zarr.lock"
        held = json.loads(fs.cat_file("occ/runs/locked.zarr.lock"))
        assert held["pid"] == os.getpid() and held["url"] == url
        with store_lock(location, "repair"):  # re-entrant in one process (repair -> generate)
            pass
        second = subprocess.run(  # another process of this host: refused, naming this one
            [sys.executable, "-c", f"from occgen.store.lock import store_lock\nwith store_lock({url!r}, 'mix'): pass"],
            capture_output=True, text=True, env={**os.environ, ENV_OPTIONS: json.dumps(s3.options())},
        )  # fmt: skip
        assert second.returncode != 0 and f"(pid {os.getpid()} on {socket.gethostname()}" in second.stderr
        assert fs.exists("occ/runs/locked.zarr.lock")
    assert not fs.exists("occ/runs/locked.zarr.lock")
    report = generate(demo_recipe(), location, n=2, shard_size=2, workers=1)
    assert report.samples_written == 2 and not fs.exists("occ/runs/locked.zarr.lock")


def test_a_lock_object_of_a_live_process_of_this_host_is_respected(s3: S3Server, tmp_path: Path) -> None:
    """A run of this host that holds the object through another lock folder (another user's) is alive: its
    object is not deleted, the second run is refused."""
    import socket

    import s3fs

    from occgen.store.lock import store_lock

    fs = s3fs.S3FileSystem(**s3.options())
    url = "s3://occ/runs/live.zarr"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        from occgen.store.lock import _process_start

        live = {"command": "generate", "pid": sleeper.pid, "host": socket.gethostname(),
                "start": _process_start(sleeper.pid), "since": "2026-12-05T03:00:00Z"}  # fmt: skip
        fs.pipe_file("occ/runs/live.zarr.lock", json.dumps(live).encode())
        with pytest.raises(StoreError, match=rf"being written by occgen generate \(pid {sleeper.pid} on"):
            with store_lock(parse_location(url, s3.options()), "generate"):
                pass
        assert json.loads(fs.cat_file("occ/runs/live.zarr.lock"))["pid"] == sleeper.pid  # left in place
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.slow
def test_killed_run_on_s3_resumes_to_the_identical_store(s3: S3Server, tmp_path: Path) -> None:
    n, shard = 48, 4
    url = "s3://occ/killed/randocc.zarr"
    env = {**os.environ, ENV_OPTIONS: json.dumps(s3.options()), "PYTHONUNBUFFERED": "1"}
    run = [sys.executable, "-m", "occgen", "generate", "randocc", "--size", "64", "--seed", "11", "--no-preview",
           "--workers", "1", "--shard-size", str(shard), "--n", str(n), "--out", url]  # fmt: skip
    location = parse_location(url, s3.options())
    process = subprocess.Popen(run, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, done = time.monotonic() + 120, 0
    while time.monotonic() < deadline and process.poll() is None and done < 2:
        try:
            done = int(zarr.open_group(location.zarr_store(read_only=True), mode="r")["shard_complete"][:].sum())
        except (FileNotFoundError, KeyError, ValueError, OSError):
            done = 0
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    with pytest.raises(StoreError, match="incomplete"):
        ShardReader(location)
    assert 2 <= ShardReader(location, allow_incomplete=True).shards_done()[0] < n // shard, "not killed mid-way"
    resumed = subprocess.run(run, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after" in resumed.stderr
    reference = tmp_path / "reference.zarr"
    generate(demo_recipe(), reference, n=n, shard_size=shard, workers=1)
    assert_same_samples(ShardReader(location), ShardReader(reference))


@pytest.mark.slow
def test_storage_options_from_params_and_environment(s3: S3Server, tmp_path: Path, monkeypatch) -> None:
    """The endpoint from params.yaml (randocc.storage_options), the credentials from the environment."""
    options = s3.options()
    params = tmp_path / "params.yaml"
    endpoint = {"endpoint_url": options["endpoint_url"], "config_kwargs": options["config_kwargs"]}
    params.write_text(f"randocc:\n  storage_options: '{json.dumps(endpoint)}'\n")
    monkeypatch.setenv(ENV_OPTIONS, json.dumps({"key": s3.key, "secret": s3.secret}))
    url = "s3://occ/params/randocc.zarr"
    result = CliRunner().invoke(app, ["generate", "randocc", "--params", str(params), "--n", "2", "--size", "32",
                                      "--workers", "1", "--no-preview", "--out", url])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(ShardReader(parse_location(url, options))) == 2
    params.write_text("randocc:\n  storage_options: '[1, 2]'\n")
    result = CliRunner().invoke(app, ["generate", "randocc", "--params", str(params), "--out", url])
    assert result.exit_code == 1 and "storage_options must be a JSON object" in result.output


@pytest.mark.slow
def test_storage_failures_are_one_clear_line(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    public = {k: v for k, v in s3.options().items() if k not in ("key", "secret")}
    right = {"key": s3.key, "secret": s3.secret}
    cases = [
        ({**right, "secret": "wrong"}, public, "s3://occ/runs/x.zarr", "access denied", "check the credentials"),
        (right, public, "s3://no-such-bucket/x.zarr", "bucket 'no-such-bucket' does not exist", "create it first"),
        (right, {**public, "endpoint_url": "http://127.0.0.1:9"}, "s3://occ/x.zarr", "cannot reach", "endpoint_url"),
    ]
    for credentials, options, url, what, fix in cases:
        monkeypatch.setenv(ENV_OPTIONS, json.dumps(credentials))
        for command in (["info", url], ["generate", "randocc", "--n", "2", "--size", "32", "--no-preview",
                                         "--workers", "1", "--out", url]):  # fmt: skip
            result = runner.invoke(app, ["--storage-options", json.dumps(options), *command])
            assert result.exit_code == 1, result.output
            lines = error_lines(result.output)
            assert len(lines) == 1 and url in lines[0] and what in lines[0] and fix in lines[0], result.output


def test_shard_blocks_return_the_same_samples_in_any_order(tmp_path: Path) -> None:
    from occgen.store.blocks import ShardBlocks

    rng = np.random.default_rng(0)
    values = rng.integers(0, 256, (23, 4, 4), dtype=np.uint8)
    array = zarr.create_array(str(tmp_path / "a.zarr"), shape=values.shape, dtype="uint8", chunks=(1, 4, 4),
                              shards=(5, 4, 4))  # fmt: skip
    array[:] = values
    blocks = ShardBlocks({"a": array}, n=23, shard_size=5, keep=1)
    order = [*range(23), *rng.permutation(23), 22, 21, 3, 3, 17]
    for index in order:
        assert np.array_equal(blocks.get("a", int(index)), values[index])
    assert len(blocks._blocks) <= 1


def test_credentials_are_refused_on_argv_and_in_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["--storage-options", '{"key": "AKIA", "secret": "s3cr3t"}', "info", "x.zarr"])
    assert result.exit_code == 1 and "--storage-options: key, secret is a credential" in result.output
    assert "s3cr3t" not in result.output and "AWS_ACCESS_KEY_ID" in result.output
    params = tmp_path / "params.yaml"
    params.write_text('randocc:\n  storage_options: \'{"endpoint_url": "http://127.0.0.1:9", "secret": "x"}\'\n')
    result = CliRunner().invoke(app, ["generate", "randocc", "--params", str(params), "--out", "s3://b/x.zarr"])
    assert result.exit_code == 1 and "storage_options (params file): secret is a credential" in result.output
    assert list(tmp_path.iterdir()) == [params]


def test_a_pickled_location_carries_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """What dask sends to a worker: the URL and the non-secret options; the worker adds its own credentials."""
    import pickle

    import cloudpickle

    location = parse_location("s3://bucket/x.zarr", {"endpoint_url": "http://127.0.0.1:9", "key": "AKIAXX",
                                                     "secret": "s3cr3t-value"})  # fmt: skip
    for dumps in (pickle.dumps, cloudpickle.dumps):
        data = dumps(location)
        assert b"s3cr3t-value" not in data and b"AKIAXX" not in data
        monkeypatch.delenv(ENV_OPTIONS, raising=False)
        bare = pickle.loads(data)
        assert bare == location and dict(bare.storage_options) == {"endpoint_url": "http://127.0.0.1:9"}
        monkeypatch.setenv(ENV_OPTIONS, json.dumps({"key": "worker-key", "secret": "worker-secret", "anon": False}))
        restored = pickle.loads(data)
        assert dict(restored.storage_options) == {"endpoint_url": "http://127.0.0.1:9", "key": "worker-key",
                                                  "secret": "worker-secret"}  # fmt: skip
